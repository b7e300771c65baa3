/**
 * The host and moderator panel: create breakout rooms, assign everyone,
 * move a person (a "Move to" list, or drag and drop onto a room), close all
 * rooms now or after a countdown that the server keeps (and can cancel),
 * send a message to every room, mute for everyone,
 * remove. Every action is one protocol command; the board redraws from the
 * events that follow, never from a guess.
 * @module panel
 */

import { h, byId, clock } from './dom.js';
import { MAIN_ROOM } from './state.js';
import { roleLabel } from './ui.js';

/** The drag-and-drop data type of a participant id. */
const DRAG_TYPE = 'application/x-sanctuary-participant';

const RANK = { participant: 0, moderator: 1, host: 2 };

/** The host panel of one client. */
export class HostPanel {
  /**
   * @param {object} o
   * @param {(text: string, o?: object) => void} o.say announces an outcome
   * @param {(err: {code?: string, text?: string}) => void} o.fail shows a failed command in plain words
   * @param {(question: string, yes: string) => Promise<boolean>} o.confirm asks before removing
   */
  constructor(o) {
    this.o = o;
    this.section = byId('host-panel');
    this.board = byId('board');
    this.bindForms();
    this.attach(null);
  }

  /**
   * Starts over for a new client (a new join): an empty board.
   * @param {import('./protocol.js').SanctuaryClient|null} client
   */
  attach(client) {
    this.client = client;
    /** @type {Map<string, {card: HTMLElement, title: HTMLElement, count: HTMLElement, timer: HTMLElement, list: HTMLElement, empty: HTMLElement}>} */
    this.cards = new Map();
    /** @type {Map<string, any>} */
    this.rows = new Map();
    this.roomsKey = '';
    this.board.replaceChildren();
    byId('close-countdown').hidden = true;
    this.show(false);
  }

  bindForms() {
    byId('create-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const count = Number(byId('room-count').value);
      const minutes = Number(byId('room-minutes').value || 0);
      this.run('breakouts.create', { count, durationSec: Math.round(minutes * 60) });
    });
    byId('assign-button').addEventListener('click', () => {
      this.run('breakouts.assign', { mode: 'balanced' });
    });
    byId('close-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.startClose(Number(byId('close-delay').value));
    });
    byId('close-cancel').addEventListener('click', () => this.run('breakouts.close.cancel', {}));
    byId('self-select').addEventListener('change', (e) => {
      this.run('breakouts.selfselect', { enabled: e.currentTarget.checked });
    });
    byId('end-session').addEventListener('click', async () => {
      if (!(await this.o.confirm('End the session for everyone? Everyone leaves at once.', 'End the session'))) return;
      this.run('session.end', {});
    });
    byId('broadcast-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = byId('broadcast-text');
      const message = input.value.trim();
      if (!message) return;
      this.run('broadcast', { message }).then((ok) => {
        if (ok) input.value = '';
      });
    });
  }

  /**
   * Sends a command and shows a failure; success is told by the event that
   * follows (see notify.js), so it is not announced twice.
   * @returns {Promise<boolean>} whether it succeeded
   */
  async run(type, fields) {
    try {
      await this.client.command(type, fields);
      return true;
    } catch (err) {
      this.o.fail(err);
      return false;
    }
  }

  /**
   * Shows or hides the panel.
   * @param {boolean} on
   */
  show(on) {
    this.section.hidden = !on;
    const me = this.client?.state.participant(this.client.participantId);
    byId('end-tool').hidden = me?.role !== 'host'; // the host alone may end the session
  }

  // --- close all, now or with a countdown kept by the server ----------------

  /**
   * Asks the server to close every room now (0) or in delaySec seconds. The
   * server counts down, tells everyone the deadline (breakouts.closing) and
   * closes the rooms even if this page is gone; the countdown shown here is
   * the server's deadline (state.closingAt), not a count of this page's own.
   * @param {number} delaySec
   */
  async startClose(delaySec) {
    if (this.client.state.rooms.length === 0) {
      this.o.fail({ text: 'There are no breakout rooms open.' });
      return;
    }
    await this.run('breakouts.close', delaySec > 0 ? { delaySec } : {});
  }

  /** Updates the countdowns from the server's deadlines; called every second. */
  tick() {
    const st = this.client?.state;
    if (!st) return;
    const now = Date.now();
    for (const [id, c] of this.cards) {
      const endsAt = st.roomEndsAt(id);
      c.timer.textContent = endsAt ? clock((endsAt - now) / 1000) : '';
    }
    byId('close-countdown').hidden = !st.closingAt;
    if (st.closingAt) {
      byId('close-countdown-text').textContent = `Closing all rooms in ${clock((st.closingAt - now) / 1000)}.`;
    }
  }

  // --- the board -------------------------------------------------------------

  /** Redraws the board: one card per room, one row per person. */
  render() {
    const st = this.client.state;
    const rooms = [{ id: MAIN_ROOM, name: 'Main room' }, ...st.rooms];
    const key = rooms.map((r) => `${r.id}=${r.name}`).join('|');
    const roomsChanged = key !== this.roomsKey;
    this.roomsKey = key;

    for (const [id, c] of this.cards) {
      if (!rooms.some((r) => r.id === id)) {
        c.card.remove();
        this.cards.delete(id);
      }
    }
    for (const r of rooms) {
      const c = this.cards.get(r.id) ?? this.newCard(r);
      c.title.textContent = r.name;
      this.board.append(c.card);
    }

    const me = st.participant(this.client.participantId);
    const present = new Set();
    for (const p of st.participants.values()) {
      present.add(p.id);
      const row = this.rows.get(p.id) ?? this.newRow(p);
      this.fillRow(row, p, me, rooms, roomsChanged);
      const card = this.cards.get(p.room) ?? this.cards.get(MAIN_ROOM);
      if (row.li.parentElement !== card.list) card.list.append(row.li);
    }
    for (const [id, row] of this.rows) {
      if (!present.has(id)) {
        row.li.remove();
        this.rows.delete(id);
      }
    }
    for (const [id, c] of this.cards) {
      const n = st.members(id).length;
      c.count.textContent = `${n} ${n === 1 ? 'person' : 'people'}`;
      c.empty.hidden = n > 0;
    }
    byId('self-select').checked = st.selfSelect;
    this.tick();
  }

  newCard(room) {
    const title = h('span');
    const count = h('span', { class: 'count' });
    const timer = h('span', { class: 'count' });
    const list = h('ul');
    const empty = h('p', { class: 'empty', text: 'Nobody here yet.' });
    const card = h('section', { class: 'room-card', 'data-room': room.id },
      h('h3', {}, title, h('span', {}, count, ' ', timer)), list, empty);
    card.setAttribute('aria-label', room.name);
    this.dropZone(card, room.id);
    const c = { card, title, count, timer, list, empty };
    this.cards.set(room.id, c);
    return c;
  }

  dropZone(card, roomId) {
    card.addEventListener('dragover', (e) => {
      if (!e.dataTransfer.types.includes(DRAG_TYPE)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'move';
      card.classList.add('drop');
    });
    card.addEventListener('dragleave', () => card.classList.remove('drop'));
    card.addEventListener('drop', (e) => {
      card.classList.remove('drop');
      const pid = e.dataTransfer.getData(DRAG_TYPE);
      if (!pid) return;
      e.preventDefault();
      this.move(pid, roomId);
    });
  }

  newRow(p) {
    const name = h('span', { class: 'name' });
    const tags = h('span', { class: 'tags' });
    const selectId = `move-${p.id}`;
    const label = h('label', { class: 'sr-only', for: selectId });
    const select = h('select', { id: selectId, class: 'move-select' });
    const moveBtn = h('button', { type: 'button', class: 'secondary small', text: 'Move' });
    const muteBtn = h('button', { type: 'button', class: 'secondary small' });
    const handBtn = h('button', { type: 'button', class: 'secondary small', text: 'Lower hand' });
    const removeBtn = h('button', { type: 'button', class: 'control danger small', text: 'Remove' });
    const li = h('li', { class: 'member', draggable: 'true', 'data-pid': p.id },
      h('div', {}, name, tags),
      h('div', { class: 'actions' }, label, select, moveBtn, muteBtn, handBtn, removeBtn));
    li.addEventListener('dragstart', (e) => {
      e.dataTransfer.setData(DRAG_TYPE, p.id);
      e.dataTransfer.setData('text/plain', this.client.state.participant(p.id)?.alias ?? '');
      e.dataTransfer.effectAllowed = 'move';
    });
    moveBtn.addEventListener('click', () => this.move(p.id, select.value));
    muteBtn.addEventListener('click', () => {
      const cur = this.client.state.participant(p.id);
      if (cur) this.run('mute', { participantId: p.id, enabled: !cur.muted });
    });
    handBtn.addEventListener('click', () => this.run('hand', { participantId: p.id, enabled: false }));
    removeBtn.addEventListener('click', () => this.remove(p.id));
    const row = { li, name, tags, label, select, moveBtn, muteBtn, handBtn, removeBtn };
    this.rows.set(p.id, row);
    return row;
  }

  fillRow(row, p, me, rooms, roomsChanged) {
    const isMe = me?.id === p.id;
    const name = this.client.state.label(p.id);
    row.name.textContent = isMe ? `${name} (you)` : name;
    const tags = [];
    if (roleLabel(p.role)) tags.push(['role', roleLabel(p.role)]);
    if (p.handRaised) tags.push(['hand', 'Hand raised']);
    if (p.muted) tags.push(['muted', 'Muted for everyone']);
    if (p.state === 'reconnecting') tags.push(['', 'Reconnecting']);
    row.tags.replaceChildren(...tags.map(([cls, text]) => h('span', { class: `tag ${cls}`, text })));
    row.label.textContent = isMe ? 'Visit room' : `Move ${name} to`;
    row.moveBtn.setAttribute('aria-label', isMe ? 'Go to the selected room' : `Move ${name}`);
    // Keep a choice the host is making unless the rooms or the person's room change.
    if (roomsChanged || row.select.options.length === 0) {
      const keep = row.select.value || p.room;
      row.select.replaceChildren(...rooms.map((r) => h('option', { value: r.id, text: r.name })));
      row.select.value = rooms.some((r) => r.id === keep) ? keep : p.room;
    }
    if (row.room !== p.room) {
      row.room = p.room;
      row.select.value = p.room;
    }
    const above = RANK[p.role] > RANK[me?.role ?? 'participant'];
    row.li.draggable = !above;
    row.select.disabled = row.moveBtn.disabled = above;
    row.muteBtn.hidden = row.removeBtn.hidden = isMe || above;
    row.muteBtn.textContent = p.muted ? 'Unmute for everyone' : 'Mute for everyone';
    row.muteBtn.setAttribute('aria-label', `${p.muted ? 'Unmute' : 'Mute'} ${name} for everyone`);
    row.handBtn.hidden = !p.handRaised || isMe || above;
    row.handBtn.setAttribute('aria-label', `Lower ${name}'s hand`);
    row.removeBtn.setAttribute('aria-label', `Remove ${name} from the session`);
  }

  async move(pid, roomId) {
    const st = this.client.state;
    const p = st.participant(pid);
    if (!p || p.room === roomId) return;
    await this.run('move', pid === this.client.participantId ? { room: roomId } : { participantId: pid, room: roomId });
  }

  async remove(pid) {
    const p = this.client.state.participant(pid);
    if (!p) return;
    if (!(await this.o.confirm(`Remove ${p.alias} from the session? They will not be able to rejoin.`, 'Remove'))) return;
    await this.run('remove', { participantId: pid, reason: 'removed by the host' });
  }
}
