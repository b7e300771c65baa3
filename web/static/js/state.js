/**
 * The session state as this client knows it: the server's snapshot with
 * every later event applied in version order. Pure: no DOM, no network, so
 * it is tested in node on its own.
 * @module state
 */

/** The id of the main room in snapshots and events. */
export const MAIN_ROOM = 'main';

/**
 * @typedef {object} Participant
 * @property {string} id
 * @property {string} alias
 * @property {string} role   host, moderator or participant
 * @property {string} room   "main" or a breakout room id
 * @property {string} state  joining, connected or reconnecting
 * @property {boolean} [muted]      muted by a moderator: nobody hears them
 * @property {boolean} [deafened]
 * @property {boolean} [handRaised]
 */

/**
 * @typedef {object} Room
 * @property {string} id
 * @property {string} name
 * @property {number} [capacity]
 * @property {number} [endsAt] unix milliseconds
 * @property {number} [warnAt] unix milliseconds
 */

/** Session state: participants, breakout rooms, hands, at one version. */
export class SessionState {
  constructor() {
    /** The version of the last snapshot or event applied; 0 before any. */
    this.version = 0;
    this.session = '';
    /** @type {Map<string, Participant>} in join order */
    this.participants = new Map();
    /** @type {Room[]} open breakout rooms, in creation order */
    this.rooms = [];
    this.selfSelect = false;
    /** @type {string[]} ids with a raised hand, in the order raised */
    this.hands = [];
    this.ended = false;
    /**
     * When the server closes every breakout room (unix ms, the server's
     * deadline of a `breakouts.close` with `delaySec`); 0 when no countdown runs.
     */
    this.closingAt = 0;
  }

  /**
   * Replaces the whole state with a snapshot (from welcome or snapshot).
   * @param {object} snap the wire snapshot
   */
  load(snap) {
    this.version = snap.version ?? 0;
    this.session = snap.session ?? '';
    this.participants = new Map((snap.participants ?? []).map((p) => [p.id, { ...p }]));
    this.rooms = (snap.rooms ?? []).map((r) => ({ ...r }));
    this.selfSelect = !!snap.selfSelect;
    this.hands = [...(snap.hands ?? [])];
    this.ended = !!snap.ended;
    this.closingAt = snap.closingAt ?? 0;
  }

  /**
   * Applies one event if it is the next version.
   * @param {object} ev a wire event ({event, version, …})
   * @returns {'applied'|'stale'|'gap'} stale: already seen, ignored; gap: a
   *   version is missing, nothing changed, ask the server for a snapshot
   */
  apply(ev) {
    if (ev.version <= this.version) return 'stale';
    if (ev.version !== this.version + 1) return 'gap';
    applyEvent(this, ev);
    this.version = ev.version;
    return 'applied';
  }

  /** @param {string} id @returns {Participant|undefined} */
  participant(id) {
    return this.participants.get(id);
  }

  /** @param {string} id a room id @returns {Room|undefined} undefined for main */
  room(id) {
    return this.rooms.find((r) => r.id === id);
  }

  /**
   * When a room closes (unix ms): the earlier of its own timer and the
   * close-all deadline; 0 for the main room or a room with neither.
   * @param {string} id a room id
   * @returns {number}
   */
  roomEndsAt(id) {
    const r = this.room(id);
    if (!r) return 0;
    const ends = [r.endsAt, this.closingAt].filter((t) => t > 0);
    return ends.length ? Math.min(...ends) : 0;
  }

  /**
   * The display name of a room.
   * @param {string} id
   * @returns {string}
   */
  roomName(id) {
    if (!id || id === MAIN_ROOM) return 'Main room';
    return this.room(id)?.name ?? 'A breakout room';
  }

  /**
   * The name to show for a participant: its alias, and when someone else
   * in the session has the same alias (two "bot 0"), a short suffix from
   * its participant id ("bot 0 · q8wd") so the two can be told apart.
   * @param {string} id
   * @returns {string} "" for an unknown id
   */
  label(id) {
    const p = this.participants.get(id);
    if (!p) return '';
    const key = sameName(p.alias);
    for (const o of this.participants.values()) {
      if (o.id !== id && sameName(o.alias) === key) return `${p.alias} · ${idSuffix(id)}`;
    }
    return p.alias;
  }

  /**
   * The participants in a room, in join order.
   * @param {string} roomId
   * @returns {Participant[]}
   */
  members(roomId) {
    return [...this.participants.values()].filter((p) => (p.room || MAIN_ROOM) === roomId);
  }
}

/** Records changed by one event, written into the state. */
function putAll(state, list) {
  for (const p of list ?? []) state.participants.set(p.id, { ...p });
}

/** Aliases compared as people read them: trimmed, case and spacing ignored. */
function sameName(alias) {
  return (alias ?? '').trim().replace(/\s+/g, ' ').toLowerCase();
}

/**
 * A short, stable suffix of a participant id: its last 4 characters
 * (ids are "p-" and 12 random characters).
 * @param {string} id
 * @returns {string}
 */
export function idSuffix(id) {
  return id.slice(-4);
}

function setHand(state, p) {
  const i = state.hands.indexOf(p.id);
  if (p.handRaised && i < 0) state.hands.push(p.id);
  if (!p.handRaised && i >= 0) state.hands.splice(i, 1);
}

function drop(state, id) {
  state.participants.delete(id);
  state.hands = state.hands.filter((h) => h !== id);
}

/** The effect of each event kind on the state (see rooms/events.go). */
function applyEvent(state, ev) {
  const p = ev.participant;
  switch (ev.event) {
    case 'participant.joined':
    case 'participant.updated':
    case 'participant.moved':
      if (p) {
        state.participants.set(p.id, { ...p });
        setHand(state, p);
      }
      break;
    case 'participant.left':
    case 'participant.removed':
      if (p) drop(state, p.id);
      break;
    case 'breakouts.created':
      for (const r of ev.rooms ?? []) if (!state.room(r.id)) state.rooms.push({ ...r });
      break;
    case 'breakouts.assigned':
      putAll(state, ev.moves);
      break;
    case 'breakouts.closed': {
      const closed = new Set((ev.rooms ?? []).map((r) => r.id));
      state.rooms = state.rooms.filter((r) => !closed.has(r.id));
      if (state.rooms.length === 0) state.closingAt = 0; // the countdown is over with its last room
      putAll(state, ev.moves);
      break;
    }
    case 'breakouts.closing':
      state.closingAt = ev.closingAt ?? 0;
      break;
    case 'breakouts.closing.cancelled':
      state.closingAt = 0;
      break;
    case 'breakouts.warning':
      for (const r of ev.rooms ?? []) {
        const i = state.rooms.findIndex((x) => x.id === r.id);
        if (i >= 0) state.rooms[i] = { ...state.rooms[i], ...r };
      }
      break;
    case 'breakouts.selfselect':
      state.selfSelect = !!ev.selfSelect;
      break;
    case 'session.ended':
      state.ended = true;
      state.participants.clear();
      state.rooms = [];
      state.hands = [];
      state.closingAt = 0;
      break;
    default:
      // broadcast, alert, unmute.requested and kinds this client does not
      // know change no record: only the version moves on.
      break;
  }
}
