/**
 * The host and moderator panel: create breakout rooms (a number, or names,
 * with a capacity and a time limit) now, or plan them and place people
 * first and open them in one go; assign everyone (evenly or at random);
 * let participants choose; close all rooms now or after a countdown the
 * server keeps (cancellable), or one room; message every room; end the
 * session. The board (board.js) shows the rooms and people and gives each
 * person one menu: move, mute, ask to unmute, lower hand, make moderator,
 * remove. Every action is a protocol command; the board redraws from the
 * events that follow, never from a guess (a plan is the one local thing).
 * @module panel
 */

import { byId, clock } from './dom.js';
import { MAIN_ROOM } from './state.js';
import { roleLabel } from './ui.js';
import { Board } from './board.js';

const RANK = { participant: 0, moderator: 1, host: 2 };

/**
 * The rooms a create form asks for: names (comma-separated) or a count,
 * each with the capacity and duration given. Pure.
 * @param {{count: number, names: string, capacity: number, minutes: number}} f
 * @returns {{name: string, capacity?: number, durationSec?: number}[]}
 */
export function roomsFromForm(f) {
  const names = f.names.split(/[,\n]/).map((n) => n.trim()).filter(Boolean);
  const list = names.length ? names : Array.from({ length: Math.max(0, f.count) }, (_, i) => `Room ${i + 1}`);
  return list.map((name) => {
    const r = { name };
    if (f.capacity > 0) r.capacity = f.capacity;
    if (f.minutes > 0) r.durationSec = Math.round(f.minutes * 60);
    return r;
  });
}

/** The host panel of one client. */
export class HostPanel {
  /**
   * @param {object} o
   * @param {(text: string, o?: object) => void} o.say announces an outcome
   * @param {(err: {code?: string, text?: string}) => void} o.fail shows a failed command in plain words
   * @param {(question: string, yes: string) => Promise<boolean>} o.confirm asks before removing or ending
   */
  constructor(o) {
    this.o = o;
    this.section = byId('host-panel');
    this.board = new Board({ move: (pid, lane) => this.move(pid, lane) });
    this.bindForms();
    this.attach(null);
  }

  /**
   * Starts over for a new client (a new join): an empty board, no plan.
   * @param {import('./protocol.js').SanctuaryClient|null} client
   */
  attach(client) {
    this.client = client;
    /** @type {{rooms: {key: string, name: string, capacity?: number, durationSec?: number}[], places: Map<string, string>}|null} */
    this.plan = null;
    /**
     * People to keep together when assigning with mode "groups", made on
     * the board (each person's menu); the page's own, like a plan.
     * @type {string[][]}
     */
    this.groups = [];
    this.board.clear();
    byId('close-countdown').hidden = true;
    byId('plan-bar').hidden = true;
    this.show(false);
  }

  bindForms() {
    const form = () => ({
      count: Number(byId('room-count').value || 0),
      names: byId('room-names').value,
      capacity: Number(byId('room-capacity').value || 0),
      minutes: Number(byId('room-minutes').value || 0),
    });
    byId('create-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const rooms = roomsFromForm(form());
      if (rooms.length) this.run('breakouts.create', { rooms });
    });
    byId('plan-button').addEventListener('click', () => {
      const rooms = roomsFromForm(form());
      if (!rooms.length) return;
      this.plan = { rooms: rooms.map((r, i) => ({ ...r, key: `plan-${i + 1}` })), places: new Map() };
      this.o.say(`${rooms.length} rooms planned. Place people with their menus, then open the rooms.`);
      this.render();
    });
    byId('plan-open').addEventListener('click', () => this.openPlan());
    byId('plan-discard').addEventListener('click', () => {
      this.plan = null;
      this.render();
    });
    byId('assign-button').addEventListener('click', () => {
      const mode = byId('assign-mode').value;
      const args = { mode, includeStaff: byId('assign-staff').checked };
      if (mode === 'groups') {
        const st = this.client.state;
        args.groups = this.groups.map((g) => g.filter((pid) => st.participant(pid))).filter((g) => g.length > 0);
        if (args.groups.length === 0) {
          this.o.fail({ text: 'There is no group yet: choose "Start a new group" in a person\'s menu on the board.' });
          return;
        }
      }
      this.run('breakouts.assign', args);
    });
    byId('self-select').addEventListener('change', (e) => {
      this.run('breakouts.selfselect', { enabled: e.currentTarget.checked });
    });
    byId('close-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.startClose(Number(byId('close-delay').value));
    });
    byId('close-cancel').addEventListener('click', () => this.run('breakouts.close.cancel', {}));
    byId('broadcast-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = byId('broadcast-text');
      const message = input.value.trim();
      if (!message) return;
      this.run('broadcast', { message }).then((ok) => {
        if (ok) input.value = '';
      });
    });
    byId('end-session').addEventListener('click', async () => {
      if (!(await this.o.confirm('End the session for everyone? Everyone leaves at once.', 'End the session'))) return;
      this.run('session.end', {});
    });
  }

  /**
   * Sends a command and shows a failure; success is told by the event that
   * follows (see notify.js), so it is not announced twice.
   * @returns {Promise<object|null>} the ok, or null when it failed
   */
  async run(type, fields) {
    try {
      return await this.client.command(type, fields);
    } catch (err) {
      this.o.fail(err);
      return null;
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

  /**
   * Puts pid in group i (a new one when i is the count), or in none (-1);
   * emptied groups keep their number until the last group is empty.
   */
  setGroup(pid, i) {
    for (const g of this.groups) {
      const at = g.indexOf(pid);
      if (at >= 0) g.splice(at, 1);
    }
    if (i >= 0) (this.groups[i] ??= []).push(pid);
    while (this.groups.length && this.groups.at(-1).length === 0) this.groups.pop();
    const n = i >= 0 ? this.groups[i].length : 0;
    this.o.say(i >= 0 ? `${this.client.state.label(pid)} is in group ${i + 1} (${n} ${n === 1 ? 'person' : 'people'}).`
      : `${this.client.state.label(pid)} is in no group.`);
    this.render();
  }

  // --- plan, then open ----------------------------------------------------------

  /**
   * Opens the planned rooms with the people placed in them: one
   * breakouts.create whose rooms name their members, so they open already
   * filled, or not at all (people who left since the plan are left out).
   */
  async openPlan() {
    const plan = this.plan;
    if (!plan) return;
    const st = this.client.state;
    const members = new Map(plan.rooms.map((r) => [r.key, []]));
    for (const [pid, key] of plan.places) {
      if (members.has(key) && st.participant(pid)) members.get(key).push(pid);
    }
    const rooms = plan.rooms.map(({ key, ...r }) => (members.get(key).length ? { ...r, members: members.get(key) } : r));
    const ok = await this.run('breakouts.create', { rooms });
    if (!ok) return;
    this.plan = null;
    this.render();
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
    this.board.tick();
    byId('close-countdown').hidden = !st.closingAt;
    if (st.closingAt) {
      byId('close-countdown-text').textContent = `Closing all rooms in ${clock((st.closingAt - Date.now()) / 1000)}.`;
    }
  }

  // --- the board -------------------------------------------------------------

  /** Redraws the board from the state (and the plan). */
  render() {
    const st = this.client.state;
    const me = st.participant(this.client.participantId);
    const plan = this.plan;
    byId('plan-bar').hidden = !plan;
    if (plan) {
      byId('plan-text').textContent = `${plan.rooms.length} rooms planned, ${plan.places.size} people placed.`;
    }
    const laneOf = (p) => (plan?.places.get(p.id) ?? p.room) || MAIN_ROOM;
    const people = [...st.participants.values()];
    const count = (id) => people.filter((p) => laneOf(p) === id).length;
    const lanes = [{ id: MAIN_ROOM, name: st.rooms.length || plan ? 'Main room (not in a breakout room)' : 'Main room', count: count(MAIN_ROOM), mine: me?.room === MAIN_ROOM, close: null }];
    for (const r of st.rooms) {
      lanes.push({
        id: r.id, name: r.name, count: count(r.id), capacity: r.capacity, endsAt: st.roomEndsAt(r.id), mine: me?.room === r.id,
        close: () => this.closeOne(r.id),
      });
    }
    for (const r of plan?.rooms ?? []) lanes.push({ id: r.key, name: r.name, count: count(r.key), capacity: r.capacity, planned: true, close: null });
    const rows = people.map((p) => this.row(p, me, lanes, laneOf(p)));
    this.board.render(lanes, rows);
    byId('self-select').checked = st.selfSelect;
    this.tick();
  }

  /** One person's row: name, tags and the actions of their menu. */
  row(p, me, lanes, lane) {
    const st = this.client.state;
    const isMe = me?.id === p.id;
    const name = st.label(p.id);
    const tags = [];
    if (roleLabel(p.role)) tags.push(['role', roleLabel(p.role)]);
    if (p.handRaised) tags.push(['hand', 'Hand raised']);
    if (p.muted) tags.push(['muted', 'Muted for everyone']);
    if (p.deafened) tags.push(['', 'Not listening']);
    if (p.state === 'reconnecting') tags.push(['', 'Reconnecting']);
    const group = this.groups.findIndex((g) => g.includes(p.id));
    if (group >= 0) tags.push(['group', `Group ${group + 1}`]);
    const above = RANK[p.role] > RANK[me?.role ?? 'participant'];
    const actions = [];
    if (!above) {
      for (const l of lanes) {
        if (l.id === lane) continue;
        const label = isMe ? `Go to ${l.name}` : `Move to ${l.name}`;
        actions.push({ label, run: () => this.move(p.id, l.id) });
      }
    }
    if (!above) {
      // Groups for "keep groups together": in one group at most.
      if (group >= 0) {
        actions.push({ label: `Remove from group ${group + 1}`, run: () => this.setGroup(p.id, -1) });
      } else {
        this.groups.forEach((g, i) => {
          if (g.length) actions.push({ label: `Add to group ${i + 1}`, run: () => this.setGroup(p.id, i) });
        });
        actions.push({ label: 'Start a new group', run: () => this.setGroup(p.id, this.groups.length) });
      }
    }
    if (!isMe && !above) {
      actions.push({ label: p.muted ? 'Unmute for everyone' : 'Mute for everyone', run: () => this.run('mute', { participantId: p.id, enabled: !p.muted }) });
      actions.push({ label: 'Ask to unmute', run: () => this.run('unmute.request', { participantId: p.id }) });
      if (p.handRaised) actions.push({ label: 'Lower hand', run: () => this.run('hand', { participantId: p.id, enabled: false }) });
      if (me?.role === 'host' && p.role !== 'host') {
        const to = p.role === 'moderator' ? 'participant' : 'moderator';
        actions.push({ label: to === 'moderator' ? 'Make moderator' : 'Make participant', run: () => this.run('role', { participantId: p.id, role: to }) });
      }
      actions.push({ label: 'Remove from the session', danger: true, run: () => this.remove(p.id) });
    }
    return { id: p.id, lane, name: isMe ? `${name} (you)` : name, tags, draggable: !above, actions };
  }

  /**
   * Moves a person to a lane: a command for an open room, a change of the
   * plan for a planned one (or back to the main room while planning).
   */
  async move(pid, laneId) {
    const st = this.client.state;
    const p = st.participant(pid);
    if (!p) return;
    if (this.plan) {
      const planned = this.plan.rooms.find((r) => r.key === laneId);
      const back = laneId === (p.room || MAIN_ROOM) && this.plan.places.has(pid);
      if (planned || back) {
        if (planned) this.plan.places.set(pid, laneId);
        else this.plan.places.delete(pid);
        this.o.say(`${st.label(pid)} placed in ${planned ? planned.name : st.roomName(laneId)} (planned).`);
        this.render();
        return;
      }
    }
    if (p.room === laneId || !(laneId === MAIN_ROOM || st.room(laneId))) return;
    await this.run('move', pid === this.client.participantId ? { room: laneId } : { participantId: pid, room: laneId });
  }

  async closeOne(roomId) {
    await this.run('breakouts.close', { room: roomId });
  }

  async remove(pid) {
    const name = this.client.state.label(pid);
    if (!name) return;
    if (!(await this.o.confirm(`Remove ${name} from the session? They will not be able to rejoin.`, 'Remove'))) return;
    await this.run('remove', { participantId: pid, reason: 'removed by the host' });
  }

  /**
   * Marks who speaks now on the board.
   * @param {Set<string>} ids
   */
  setSpeaking(ids) {
    this.board.setSpeaking(ids);
  }
}
