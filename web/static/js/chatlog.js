/**
 * The chat as this client knows it: every message received, live or
 * replayed after a (re)join, kept once per (stream, seq), and how many of
 * them are unread in each tab. Pure: no DOM, tested in node.
 *
 * Two tabs: `room` shows my room's stream and the host's messages to every
 * room (`all`); `help` shows the private threads with the staff
 * (`staff:<participant id>`: a participant reads its own, hosts and
 * moderators every one).
 * @module chatlog
 */

/**
 * @typedef {object} ChatMessage
 * @property {string} stream  room:<id>, all or staff:<participant id>
 * @property {number} seq
 * @property {string} clientMsgId
 * @property {string} from    the sender's participant id
 * @property {string} alias   the sender's alias when it sent
 * @property {string} text    plain text: render with textContent only
 * @property {number} at      unix ms
 * @property {boolean} deleted
 */

/** The stream of the broadcasts to every room. */
export const ALL = 'all';

/**
 * The tab a stream shows in.
 * @param {string} stream
 * @returns {'room'|'help'}
 */
export function tabOf(stream) {
  return stream.startsWith('staff:') ? 'help' : 'room';
}

/**
 * The participant a staff thread is about ("" for other streams).
 * @param {string} stream
 * @returns {string}
 */
export function threadOwner(stream) {
  return stream.startsWith('staff:') ? stream.slice('staff:'.length) : '';
}

/** Chat messages by stream and seq, with unread counts per tab. */
export class ChatLog {
  constructor() {
    /** @type {Map<string, ChatMessage>} key `${stream}#${seq}` */
    this.messages = new Map();
    /** Unread messages per tab. */
    this.unread = { room: 0, help: 0 };
    /** The stream of my room now (room:<id>): the room tab shows it. */
    this.roomStream = 'room:main';
  }

  /**
   * Adds one message. A (stream, seq) already kept is not added again (a
   * replay never repeats live chat, but the client does not rely on it);
   * a copy that says deleted marks the kept one deleted.
   * @param {ChatMessage} m
   * @param {{mine?: boolean, seen?: boolean}} [o] mine: I sent it; seen: its tab is in view
   * @returns {boolean} whether it was new
   */
  add(m, o = {}) {
    const key = `${m.stream}#${m.seq}`;
    const kept = this.messages.get(key);
    if (kept) {
      if (m.deleted) this.remove(m.stream, m.seq);
      return false;
    }
    this.messages.set(key, { ...m, deleted: !!m.deleted, text: m.deleted ? '' : m.text });
    if (!o.mine && !o.seen && !m.deleted && this.visible(m.stream)) this.unread[tabOf(m.stream)]++;
    return true;
  }

  /**
   * Marks a message deleted (its text is dropped).
   * @returns {boolean} whether a kept message changed
   */
  remove(stream, seq) {
    const m = this.messages.get(`${stream}#${seq}`);
    if (!m || m.deleted) return false;
    m.deleted = true;
    m.text = '';
    return true;
  }

  /**
   * Whether a stream shows in its tab now (the room tab shows only my
   * current room, and the broadcasts).
   * @param {string} stream
   */
  visible(stream) {
    return tabOf(stream) === 'help' || stream === ALL || stream === this.roomStream;
  }

  /**
   * Sets my room (after a move): the room tab shows its stream from now on.
   * @param {string} roomId
   */
  setRoom(roomId) {
    this.roomStream = `room:${roomId || 'main'}`;
  }

  /** @param {'room'|'help'} tab */
  markRead(tab) {
    this.unread[tab] = 0;
  }

  /**
   * The messages of a tab, oldest first (by time, then stream and seq).
   * @param {'room'|'help'} tab
   * @param {string} [thread] for the help tab: only this participant's thread
   * @returns {ChatMessage[]}
   */
  list(tab, thread = '') {
    const out = [...this.messages.values()].filter((m) => tabOf(m.stream) === tab && this.visible(m.stream)
      && (!thread || threadOwner(m.stream) === thread));
    return out.sort((a, b) => a.at - b.at || a.stream.localeCompare(b.stream) || a.seq - b.seq);
  }

  /**
   * The staff threads with messages, newest activity first.
   * @returns {{owner: string, last: number, count: number}[]}
   */
  threads() {
    const by = new Map();
    for (const m of this.messages.values()) {
      const owner = threadOwner(m.stream);
      if (!owner) continue;
      const t = by.get(owner) ?? { owner, last: 0, count: 0 };
      t.last = Math.max(t.last, m.at);
      t.count++;
      by.set(owner, t);
    }
    return [...by.values()].sort((a, b) => b.last - a.last);
  }
}
