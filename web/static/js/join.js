/**
 * The join form: session and alias (a generated one by default), and the
 * token from the link, the embedding page, a pasted token, or dev mode.
 * @module join
 */

import { byId } from './dom.js';
import { generateAlias } from './alias.js';
import { MicPicker } from './micpicker.js';
import { describeError } from './errors.js';
import {
  tokenFromFragment, allowedOrigins, listenForEmbedToken, devModeAvailable, devToken,
} from './token.js';

/**
 * @typedef {object} JoinRequest
 * @property {string} token
 * @property {string} session
 * @property {string} alias
 * @property {MediaStream|null} microphone the stream chosen and tested before joining, if any
 * @property {boolean} disguise send only the disguised voice
 */

/** The join form. */
export class JoinForm {
  /**
   * @param {(req: JoinRequest) => void} onJoin called with a token, session and alias
   */
  constructor(onJoin) {
    this.onJoin = onJoin;
    this.view = byId('join-view');
    this.form = byId('join-form');
    this.session = byId('session-input');
    this.alias = byId('alias-input');
    this.tokenInput = byId('token-input');
    this.error = byId('join-error');
    this.button = byId('join-button');
    this.devRole = byId('dev-role');
    /** @type {import('./token.js').TokenGrant|null} */
    this.grant = null;
    this.dev = false;
    this.params = new URLSearchParams(location.search);
    this.mic = new MicPicker();

    this.alias.value = sessionStorage.getItem('sanctuary.alias') || generateAlias();
    byId('alias-shuffle').addEventListener('click', () => {
      this.alias.value = generateAlias();
      this.alias.focus();
    });
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  /** Reads the URL, listens for an embedding page, and probes dev mode. */
  async init() {
    const frag = tokenFromFragment(location.hash);
    if (frag) {
      this.grant = frag;
      // Keep the token out of the address bar, history and copied links.
      history.replaceState(null, '', location.pathname + location.search);
    }
    this.session.value = frag?.session ?? this.params.get('session') ?? '';

    listenForEmbedToken(window, allowedOrigins(location.search, location.origin), (g) => {
      this.grant = g;
      if (g.session) this.session.value = g.session;
      this.error.textContent = '';
      if (this.params.has('autojoin')) this.submit();
    });

    this.dev = !this.grant && (await devModeAvailable(fetch));
    if (this.dev) {
      byId('dev-fields').hidden = false;
      if (!this.session.value) this.session.value = 'demo';
      const role = this.params.get('role');
      if (role && [...this.devRole.options].some((o) => o.value === role)) this.devRole.value = role;
    }
    if (this.grant) byId('token-details').hidden = true;
  }

  async submit() {
    this.error.textContent = '';
    const session = this.session.value.trim();
    const alias = this.alias.value.trim() || generateAlias();
    this.alias.value = alias;
    if (!session) {
      this.error.textContent = 'Please enter the session you were invited to.';
      this.session.focus();
      return;
    }
    let token = this.tokenInput.value.trim() || this.grant?.token || '';
    this.button.disabled = true;
    try {
      if (!token && this.dev) {
        token = await devToken(fetch, { session, role: this.devRole.value, user: devUser() });
      }
    } catch {
      this.error.textContent = describeError('unreachable').text;
      return;
    } finally {
      this.button.disabled = false;
    }
    if (!token) {
      this.error.textContent = describeError('no_token').text;
      return;
    }
    sessionStorage.setItem('sanctuary.alias', alias);
    this.onJoin({ token, session, alias, microphone: this.mic.take(), disguise: byId('disguise-join').checked });
  }

  /**
   * Shows or hides the form, with an optional message.
   * @param {boolean} on
   * @param {string} [message]
   */
  show(on, message = '') {
    this.view.hidden = !on;
    this.error.textContent = message;
    if (on) this.session.value ? this.alias.focus() : this.session.focus();
  }
}

/** A dev-mode user id, kept for this tab so a reload takes over the same record. */
function devUser() {
  let id = sessionStorage.getItem('sanctuary.devUser');
  if (!id) {
    id = `dev-${Math.random().toString(36).slice(2, 10)}`;
    sessionStorage.setItem('sanctuary.devUser', id);
  }
  return id;
}
