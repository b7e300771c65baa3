/**
 * The chat panel: a tab for my room (with the host's messages to every
 * room standing out) and a tab for private help threads with the hosts,
 * each with its unread count. Text is rendered with textContent only.
 * Messages typed while the connection is down wait and are sent once it is
 * back, with the same client message id, so the server posts each once.
 * @module chat
 */

import { h, byId } from './dom.js';
import { ChatLog, ALL, tabOf, threadOwner } from './chatlog.js';
import { MAIN_ROOM } from './state.js';

const STAFF = new Set(['host', 'moderator']);
/** Errors after which a message is kept and sent again on reconnect. */
const RETRY = new Set(['disconnected', 'timeout']);

/** A random client message id. */
function newMsgId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** The chat panel of one client. */
export class ChatPanel {
  /**
   * @param {object} o
   * @param {(err: {code?: string, text?: string}) => void} o.fail shows a failed send in plain words
   * @param {(text: string, o?: object) => void} o.say announces (help requests to the staff)
   */
  constructor(o) {
    this.o = o;
    this.tabs = { room: byId('chat-tab-room'), help: byId('chat-tab-help') };
    this.list = byId('chat-list');
    this.form = byId('chat-form');
    this.text = byId('chat-text');
    this.to = byId('chat-to');
    this.toWrap = byId('chat-to-wrap');
    this.waiting = byId('chat-waiting');
    // Whether the list is scrolled to its end, kept from its scroll events:
    // a draw that measured it would force a layout on every state change,
    // the join's first included.
    this.atEnd = true;
    this.list.addEventListener('scroll', () => {
      this.atEnd = this.list.scrollTop + this.list.clientHeight >= this.list.scrollHeight - 4;
    }, { passive: true });
    for (const [tab, el] of Object.entries(this.tabs)) {
      el.addEventListener('click', () => this.select(tab));
      el.addEventListener('keydown', (e) => {
        if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
        const other = tab === 'room' ? 'help' : 'room';
        this.select(other);
        this.tabs[other].focus();
      });
    }
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    document.addEventListener('visibilitychange', () => this.markSeen());
    this.attach(null);
  }

  /**
   * Starts over for a new client (a new join from the form).
   * @param {import('./protocol.js').SanctuaryClient|null} client
   */
  attach(client) {
    this.client = client;
    this.log = new ChatLog();
    this.tab = 'room';
    /** @type {{text: string, to: string, clientMsgId: string}[]} waiting for a connection */
    this.outbox = [];
    this.flushing = false;
    this.list.replaceChildren();
    this.toKey = '';
    if (!client) return;
    client.addEventListener('chat', (e) => this.onChat(e.detail));
    client.addEventListener('chat.deleted', (e) => {
      if (this.log.remove(e.detail.stream, e.detail.seq)) this.draw();
    });
    client.addEventListener('status', (e) => {
      if (e.detail.status === 'connected') this.flush();
    });
    this.select('room');
  }

  get staff() {
    const me = this.client?.state.participant(this.client.participantId);
    return STAFF.has(me?.role);
  }

  onChat(m) {
    const mine = m.from === this.client.participantId;
    const seen = tabOf(m.stream) === this.tab && document.visibilityState === 'visible';
    if (!this.log.add(m, { mine, seen })) return;
    if (!mine && this.staff && tabOf(m.stream) === 'help' && threadOwner(m.stream) === m.from && !m.replayed) {
      this.o.say(`Private message from ${this.name(m.from, m.alias)}: ${m.text}`, { urgent: true });
    }
    this.draw();
  }

  /** Redraws after the session state changed (my room, my role, names). */
  render() {
    if (!this.client) return;
    const me = this.client.state.participant(this.client.participantId);
    const stream = `room:${me?.room || MAIN_ROOM}`;
    if (stream !== this.log.roomStream) {
      this.log.setRoom(me?.room || MAIN_ROOM);
      this.log.unread.room = 0; // a new room: nothing of it is unread yet
    }
    this.draw();
  }

  /** @param {'room'|'help'} tab */
  select(tab) {
    this.tab = tab;
    for (const [t, el] of Object.entries(this.tabs)) {
      el.setAttribute('aria-selected', String(t === tab));
      el.tabIndex = t === tab ? 0 : -1;
    }
    this.list.setAttribute('aria-labelledby', this.tabs[tab].id);
    this.draw();
  }

  markSeen() {
    if (document.visibilityState === 'visible') this.log?.markRead(this.tab);
  }

  /** The name to show for a participant: the board's label, else the alias it sent with. */
  name(id, alias) {
    return this.client.state.label?.(id) || alias || 'Someone';
  }

  draw() {
    if (!this.client) return;
    this.markSeen();
    this.drawTabs();
    this.drawTo();
    const rows = this.log.list(this.tab).map((m) => this.item(m));
    if (rows.length === 0) {
      const empty = this.tab === 'room' ? 'No messages in this room yet.'
        : this.staff ? 'No private messages yet.' : 'Write here to reach the hosts privately.';
      rows.push(h('li', { class: 'empty', text: empty }));
    }
    this.list.replaceChildren(...rows);
    if (this.atEnd && !this.scrollPending) {
      // At the end it stays at the end, scrolled in the next frame, once
      // laid out as the frame lays it out anyway.
      this.scrollPending = true;
      requestAnimationFrame(() => {
        this.scrollPending = false;
        if (this.atEnd) this.list.scrollTop = this.list.scrollHeight;
      });
    }
    this.waiting.hidden = this.outbox.length === 0;
    this.waiting.textContent = this.outbox.length === 1 ? '1 message waits for the connection.'
      : `${this.outbox.length} messages wait for the connection.`;
  }

  drawTabs() {
    const words = { room: 'Room chat', help: this.staff ? 'Help requests' : 'Private to hosts' };
    for (const [t, el] of Object.entries(this.tabs)) {
      const n = this.log.unread[t];
      el.replaceChildren(words[t], n ? h('span', { class: 'unread', text: ` ${n}`, 'aria-label': `, ${n} unread` }) : '');
      el.dataset.unread = String(n);
    }
  }

  /** The "To" choices: staff write to the room or every room, and to any participant's thread. */
  drawTo() {
    const st = this.client.state;
    let options = [];
    if (this.tab === 'room') {
      if (this.staff) options = [['room', 'This room'], [ALL, 'Every room (broadcast)']];
    } else if (this.staff) {
      const withThread = this.log.threads().map((t) => t.owner);
      const others = [...st.participants.values()].filter((p) => p.role === 'participant').map((p) => p.id);
      const ids = [...new Set([...withThread, ...others])];
      options = ids.map((id) => [`staff:${id}`, `Privately to ${this.name(id, '')}`]);
    }
    const key = options.map((o) => o.join('=')).join('|');
    if (key === this.toKey) return;
    this.toKey = key;
    const keep = this.to.value;
    this.to.replaceChildren(...options.map(([value, text]) => h('option', { value, text })));
    if (options.some(([v]) => v === keep)) this.to.value = keep;
    this.toWrap.hidden = options.length === 0;
  }

  item(m) {
    const me = this.client.participantId;
    const cls = ['msg'];
    let badge = '';
    if (m.stream === ALL) {
      cls.push('broadcast');
      badge = 'To every room';
    } else if (tabOf(m.stream) === 'help') {
      cls.push('help');
      const owner = threadOwner(m.stream);
      badge = this.staff ? `Help thread of ${this.name(owner, owner === m.from ? m.alias : '')}` : 'Private';
    }
    if (m.from === me) cls.push('mine');
    const at = new Date(m.at);
    const meta = h('p', { class: 'meta' },
      h('span', { class: 'from', text: m.from === me ? 'You' : this.name(m.from, m.alias) }),
      badge ? h('span', { class: 'badge', text: badge }) : '',
      h('time', { datetime: at.toISOString(), text: at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) }));
    const text = h('p', { class: 'text' });
    text.textContent = m.deleted ? 'This message was removed.' : m.text; // never innerHTML
    if (m.deleted) text.classList.add('deleted');
    const li = h('li', { class: cls.join(' '), 'data-stream': m.stream, 'data-seq': String(m.seq) }, meta, text);
    if (this.staff && !m.deleted) {
      const actions = h('div', { class: 'msg-actions' });
      if (tabOf(m.stream) === 'help') {
        actions.append(h('button', { type: 'button', class: 'link', text: 'Reply',
          'on:click': () => { this.to.value = m.stream; this.text.focus(); } }));
      }
      actions.append(h('button', { type: 'button', class: 'link', text: 'Delete',
        'aria-label': `Delete the message from ${this.name(m.from, m.alias)}`,
        'on:click': () => this.client.command('chat.delete', { stream: m.stream, seq: m.seq }).catch(this.o.fail) }));
      li.append(actions);
    }
    return li;
  }

  submit() {
    const text = this.text.value.trim();
    if (!text || !this.client) return;
    let to = this.tab === 'room' ? 'room' : 'staff';
    if (!this.toWrap.hidden && this.to.value) to = this.to.value;
    this.outbox.push({ text, to, clientMsgId: newMsgId() });
    this.text.value = '';
    this.flush();
  }

  /** Sends what waits, in order; a send cut by a disconnect waits for the next connection. */
  async flush() {
    if (this.flushing) return;
    this.flushing = true;
    const client = this.client;
    try {
      while (this.outbox.length && client === this.client) {
        const m = this.outbox[0];
        try {
          await client.sendChat(m.text, { to: m.to, clientMsgId: m.clientMsgId });
        } catch (err) {
          if (RETRY.has(err?.code)) break; // the same clientMsgId again on reconnect: posted once
          this.o.fail(err);
        }
        this.outbox.shift();
      }
    } finally {
      this.flushing = false;
      this.draw();
    }
  }
}
