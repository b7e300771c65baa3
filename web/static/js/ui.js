/**
 * The room view: the room I am in and its countdown (and the server's
 * deadline for closing every breakout room), the people in it (role,
 * muted, hand raised, speaking), my controls and the connection state. It
 * reads a SanctuaryClient's state and never speaks the protocol itself.
 * @module ui
 */

import { h, byId, clock } from './dom.js';
import { MAIN_ROOM } from './state.js';

/** Words for the connection states of the protocol layer. */
const STATUS_WORDS = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  reconnecting: 'Reconnecting…',
  connected: 'Connected',
  closed: 'Disconnected',
};

/**
 * Initials for an avatar: "Quiet Fox" → "QF".
 * @param {string} alias
 * @returns {string}
 */
export function initials(alias) {
  const words = (alias || '?').trim().split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((w) => [...w][0].toUpperCase()).join('') || '?';
}

/**
 * Words for a role shown next to a name ("" for a participant).
 * @param {string} role
 * @returns {string}
 */
export function roleLabel(role) {
  return role === 'host' ? 'Host' : role === 'moderator' ? 'Moderator' : '';
}

/** The room view of one client. */
export class RoomView {
  constructor() {
    this.status = byId('conn-status');
    this.roomName = byId('room-name');
    this.timer = byId('room-timer');
    this.people = byId('people');
    this.alone = byId('alone');
    this.banner = byId('banner');
    this.closing = byId('closing-banner');
    this.error = byId('room-error');
    this.mute = byId('mute-button');
    this.hand = byId('hand-button');
    this.reset();
  }

  /** Starts over for a new join: nobody listed, no room yet. */
  reset() {
    /** @type {Map<string, {li: HTMLElement, avatar: HTMLElement, name: HTMLElement, tags: HTMLElement, sr: HTMLElement}>} */
    this.rows = new Map();
    /** @type {Set<string>} participant ids speaking now */
    this.speaking = new Set();
    this.endsAt = 0;
    this.closingAt = 0;
    this.roomId = '';
    this.people.replaceChildren();
    this.showBanner('');
    this.showError('');
    this.setMuted(false);
  }

  /**
   * Shows the connection state.
   * @param {string} status connecting, reconnecting, connected or closed
   * @param {string} [detail] extra words, e.g. "next try in 2 s"
   */
  setStatus(status, detail = '') {
    this.status.dataset.status = status;
    this.status.textContent = (STATUS_WORDS[status] ?? status) + (detail ? ` — ${detail}` : '');
  }

  /**
   * Draws the room I am in from the client's state.
   * @param {import('./protocol.js').SanctuaryClient} client
   * @returns {{roomChanged: boolean, roomName: string}}
   */
  render(client) {
    const st = client.state;
    const me = st.participant(client.participantId);
    const roomId = me?.room || MAIN_ROOM;
    const roomChanged = this.roomId !== '' && roomId !== this.roomId;
    this.roomId = roomId;
    const roomName = st.roomName(roomId);
    this.roomName.textContent = roomName;
    this.endsAt = st.roomEndsAt(roomId); // the earlier of the room's end and the close-all deadline
    this.closingAt = st.closingAt;
    this.tick();

    const members = st.members(roomId);
    const keep = new Set(members.map((p) => p.id));
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.li.remove();
        this.rows.delete(id);
      }
    }
    for (const p of members) {
      const row = this.rows.get(p.id) ?? this.newRow(p.id);
      this.people.append(row.li); // keeps join order
      this.fillRow(row, p, p.id === client.participantId, st.label(p.id));
    }
    this.alone.hidden = members.length !== 1;
    if (me) {
      this.hand.setAttribute('aria-pressed', String(!!me.handRaised));
      this.hand.textContent = me.handRaised ? 'Lower hand' : 'Raise hand';
    }
    return { roomChanged, roomName };
  }

  newRow(id) {
    const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
    const name = h('span', { class: 'name' });
    const sr = h('span', { class: 'sr-only' });
    const tags = h('span', { class: 'tags' });
    const li = h('li', { class: 'person', 'data-pid': id }, avatar, h('span', { class: 'who' }, name, sr, tags));
    const row = { li, avatar, name, tags, sr };
    this.rows.set(id, row);
    return row;
  }

  fillRow(row, p, isMe, label) {
    row.avatar.textContent = initials(p.alias);
    row.name.textContent = isMe ? `${label} (you)` : label;
    const tags = [];
    if (roleLabel(p.role)) tags.push(['role', roleLabel(p.role)]);
    if (p.handRaised) tags.push(['hand', 'Hand raised']);
    if (p.muted) tags.push(['muted', 'Muted by host']);
    if (p.deafened) tags.push(['', 'Not listening']);
    if (p.state === 'reconnecting') tags.push(['', 'Reconnecting']);
    if (p.state === 'joining') tags.push(['', 'Joining']);
    row.tags.replaceChildren(...tags.map(([cls, text]) => h('span', { class: `tag ${cls}`, text })));
    this.paintSpeaking(row, this.speaking.has(p.id));
  }

  paintSpeaking(row, on) {
    row.li.classList.toggle('speaking', on);
    row.sr.textContent = on ? ', speaking' : '';
  }

  /**
   * Marks who is speaking now (levels come from the slots' receivers).
   * @param {Set<string>} ids
   */
  setSpeaking(ids) {
    this.speaking = ids;
    for (const [id, row] of this.rows) this.paintSpeaking(row, ids.has(id));
  }

  /**
   * Updates the room countdown and the close-all banner from the server's
   * deadlines; called every second.
   */
  tick() {
    const now = Date.now();
    this.closing.hidden = !this.closingAt;
    if (this.closingAt) {
      this.closing.textContent = `All breakout rooms close in ${clock((this.closingAt - now) / 1000)}.`;
    }
    if (!this.endsAt) {
      this.timer.hidden = true;
      return;
    }
    this.timer.hidden = false;
    this.timer.textContent = `Room closes in ${clock((this.endsAt - now) / 1000)}`;
  }

  /**
   * Shows my microphone state.
   * @param {boolean} muted
   */
  setMuted(muted) {
    this.mute.setAttribute('aria-pressed', String(muted));
    this.mute.textContent = muted ? 'Unmute microphone' : 'Mute microphone';
  }

  /**
   * Shows a message from the host until the next one.
   * @param {string} text
   */
  showBanner(text) {
    this.banner.hidden = !text;
    this.banner.textContent = text;
  }

  /**
   * Shows an error in plain words ("" clears it).
   * @param {string} text
   */
  showError(text) {
    this.error.textContent = text;
  }
}
