/**
 * The person's own controls beyond mute and hand: stop hearing others
 * (deafen), ask the hosts for help (alert), reactions, choosing a breakout
 * room when the host lets people choose, going back to the main room, and
 * answering a host's request to unmute. Hosts and moderators also get the
 * alerts others raise, with a way to go to that room. Each control is one
 * protocol command; what shows comes from the events that follow.
 * @module controls
 */

import { h, byId } from './dom.js';
import { MAIN_ROOM } from './state.js';

const STAFF = new Set(['host', 'moderator']);
/** How long a reaction shows next to a person (ms). */
const REACTION_SHOW_MS = 4000;

/** The person's own controls for one client at a time. */
export class SelfControls {
  /**
   * @param {object} o
   * @param {(text: string, o?: object) => void} o.say
   * @param {(err: {code?: string, text?: string}) => void} o.fail
   * @param {(enabled: boolean) => void} o.setMic turns my microphone on or off (as the mute button does)
   */
  constructor(o) {
    this.o = o;
    this.client = null;
    this.deafen = byId('deafen-button');
    this.choose = byId('choose-room');
    this.chooseSelect = byId('choose-room-select');
    this.backMain = byId('back-main');
    this.alertBanner = byId('alert-banner');
    this.unmuteBanner = byId('unmute-banner');
    this.alertRoom = '';
    this.bind();
  }

  /** @param {import('./protocol.js').SanctuaryClient|null} client */
  attach(client) {
    this.client = client;
    this.alertBanner.hidden = true;
    this.unmuteBanner.hidden = true;
    this.roomsKey = '';
  }

  bind() {
    this.deafen.addEventListener('click', () => {
      const me = this.me();
      if (me) this.run('deafen', { enabled: !me.deafened });
    });
    byId('help-button').addEventListener('click', () => this.askHelp());
    for (const b of document.querySelectorAll('.reactions .reaction')) {
      b.addEventListener('click', () => this.run('react', { emoji: b.dataset.emoji }));
    }
    byId('choose-room-go').addEventListener('click', () => this.moveSelf(this.chooseSelect.value));
    this.backMain.addEventListener('click', () => this.moveSelf(MAIN_ROOM));
    byId('alert-go').addEventListener('click', () => {
      this.alertBanner.hidden = true;
      this.moveSelf(this.alertRoom);
    });
    byId('alert-dismiss').addEventListener('click', () => { this.alertBanner.hidden = true; });
    byId('unmute-accept').addEventListener('click', () => {
      this.unmuteBanner.hidden = true;
      this.o.setMic(true);
    });
    byId('unmute-dismiss').addEventListener('click', () => { this.unmuteBanner.hidden = true; });
  }

  me() {
    return this.client?.state.participant(this.client.participantId);
  }

  async run(type, fields) {
    try {
      await this.client.command(type, fields);
      return true;
    } catch (err) {
      this.o.fail(err);
      return false;
    }
  }

  async moveSelf(room) {
    const me = this.me();
    if (!me || !room || me.room === room) return;
    await this.run('move', { room });
  }

  /** Asks for an optional word in a dialog, then raises the alert. */
  async askHelp() {
    if (!this.client) return;
    const dialog = byId('help-dialog');
    const input = byId('help-text');
    input.value = '';
    dialog.returnValue = '';
    dialog.showModal();
    const ok = await new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    });
    if (!ok) return;
    const message = input.value.trim();
    if (await this.run('alert', message ? { message } : {})) {
      this.o.say('The hosts were asked to help you. Someone will be with you soon.', { urgent: true });
    }
  }

  /**
   * Shows what follows from the state: deafened or not, the rooms I may
   * choose, the way back to the main room.
   */
  render() {
    const me = this.me();
    if (!me) return;
    const st = this.client.state;
    this.deafen.setAttribute('aria-pressed', String(!!me.deafened));
    this.deafen.textContent = me.deafened ? 'Hear others again' : 'Stop hearing others';
    const staff = STAFF.has(me.role);
    const canChoose = st.selfSelect && st.rooms.length > 0;
    // Staff visit rooms from the board; a participant chooses here.
    this.choose.hidden = !canChoose || staff;
    const key = st.rooms.map((r) => `${r.id}=${r.name}=${st.members(r.id).length}/${r.capacity ?? 0}`).join('|');
    if (!this.choose.hidden && key !== this.roomsKey) {
      this.roomsKey = key;
      const keep = this.chooseSelect.value;
      this.chooseSelect.replaceChildren(...st.rooms.map((r) => {
        const n = st.members(r.id).length;
        const full = r.capacity > 0 && n >= r.capacity;
        const text = `${r.name} (${n}${r.capacity ? ` of ${r.capacity}` : ''}${full ? ', full' : ''})`;
        return h('option', { value: r.id, text, disabled: full && r.id !== me.room });
      }));
      if (st.rooms.some((r) => r.id === keep)) this.chooseSelect.value = keep;
    }
    this.backMain.hidden = me.room === MAIN_ROOM || !(staff || st.selfSelect);
  }

  /**
   * Reacts to one applied session event: a request to unmute me, an alert
   * for the staff.
   * @param {object} ev
   */
  onEvent(ev) {
    const me = this.me();
    if (!me) return;
    if (ev.event === 'unmute.requested' && ev.participant?.id === me.id && !this.client.micEnabled) {
      this.unmuteBanner.hidden = false;
    }
    if (ev.event === 'alert' && STAFF.has(me.role) && ev.participant) {
      const st = this.client.state;
      this.alertRoom = ev.room || MAIN_ROOM;
      const who = st.label(ev.participant.id) || ev.participant.alias;
      byId('alert-text').textContent = `${who} in ${st.roomName(this.alertRoom)} needs help now${ev.message ? `: “${ev.message}”` : '.'} `;
      byId('alert-go').hidden = this.alertRoom === me.room;
      this.alertBanner.hidden = false;
    }
  }

  /**
   * Shows a reaction next to the person in the room list for a few seconds.
   * @param {{participantId: string, emoji: string}} r
   */
  showReaction(r) {
    const pid = CSS.escape(r.participantId);
    for (const li of document.querySelectorAll(`#people li[data-pid="${pid}"], #board li[data-pid="${pid}"]`)) this.mark(li, r.emoji);
  }

  mark(li, emoji) {
    li.querySelector('.reacted')?.remove();
    const mark = h('span', { class: 'reacted', text: emoji, 'aria-hidden': 'true' });
    li.append(mark);
    setTimeout(() => mark.remove(), REACTION_SHOW_MS);
  }
}
