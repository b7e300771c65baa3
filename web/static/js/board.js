/**
 * The host's board: one lane per room (the main room first, as the lane
 * of people not in a breakout room), one compact row per person, and one
 * menu per person for everything that can be done to them. Built for 50
 * people and 10 rooms: the whole board is one tab stop (arrow keys go from
 * person to person, Enter opens the person's menu), a search box narrows
 * it, and a person can be dragged onto a lane. The board knows no
 * protocol: the panel gives it lanes, rows and actions.
 * @module board
 */

import { h, byId, clock } from './dom.js';

/** The drag-and-drop data type of a participant id. */
const DRAG_TYPE = 'application/x-sanctuary-participant';

/**
 * @typedef {object} Lane
 * @property {string} id        a room id, "main", or a planned room's key
 * @property {string} name
 * @property {number} count     people in it
 * @property {number} [capacity]
 * @property {number} [endsAt]  unix ms, 0 for none
 * @property {boolean} [planned] not open yet: moves into it only change the plan
 * @property {boolean} [mine]   I am in this room
 * @property {(() => void)|null} [close] closes the room (null: no close button)
 */

/**
 * @typedef {object} Row
 * @property {string} id        participant id
 * @property {string} lane      the lane it shows in
 * @property {string} name      the name shown (with "(you)")
 * @property {[string, string][]} tags  [class, words]
 * @property {boolean} draggable
 * @property {{label: string, run: () => void, danger?: boolean}[]} actions  its menu
 */

/** The board of the host panel. */
export class Board {
  /**
   * @param {object} o
   * @param {(pid: string, laneId: string) => void} o.move a drop onto a lane
   */
  constructor(o) {
    this.o = o;
    this.root = byId('board');
    this.search = byId('board-search');
    this.search.addEventListener('input', () => this.filter());
    // From the search box, Down or Enter goes to the first person shown.
    this.search.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowDown' && e.key !== 'Enter') return;
      e.preventDefault();
      const first = this.visible()[0];
      if (first) this.focusRow(first);
    });
    /** @type {Map<string, any>} lane id → its elements */
    this.lanes = new Map();
    /** @type {Map<string, any>} participant id → its row elements and data */
    this.rows = new Map();
    /** The participant whose row takes the board's one tab stop. */
    this.current = '';
    this.menu = null;
    document.addEventListener('click', (e) => {
      if (this.menu && !this.menu.el.contains(e.target) && !this.menu.button.contains(e.target)) this.closeMenu(false);
    });
  }

  /** Empties the board (a new join). */
  clear() {
    this.closeMenu(false);
    this.root.replaceChildren();
    this.lanes.clear();
    this.rows.clear();
    this.current = '';
  }

  /**
   * Draws the lanes and rows; existing elements are kept (focus and an
   * open menu survive a redraw).
   * @param {Lane[]} lanes in order
   * @param {Row[]} rows
   */
  render(lanes, rows) {
    const keepLanes = new Set(lanes.map((l) => l.id));
    for (const [id, l] of this.lanes) {
      if (!keepLanes.has(id)) {
        l.el.remove();
        this.lanes.delete(id);
      }
    }
    let prev = null;
    for (const lane of lanes) {
      const l = this.lanes.get(lane.id) ?? this.newLane(lane.id);
      this.fillLane(l, lane);
      // Keep lane order, moving an element only when it is out of place: a
      // moved element would cancel a drag or a click in progress on it.
      const want = prev ? prev.nextSibling : this.root.firstChild;
      if (want !== l.el) this.root.insertBefore(l.el, want);
      prev = l.el;
    }
    // Moving a focused row to another lane would drop its focus: keep it.
    const focused = this.root.contains(document.activeElement) ? document.activeElement : null;
    const keepRows = new Set(rows.map((r) => r.id));
    for (const [id, r] of this.rows) {
      if (!keepRows.has(id)) {
        if (this.menu?.pid === id) this.closeMenu(false);
        r.li.remove();
        this.rows.delete(id);
      }
    }
    for (const row of rows) {
      const r = this.rows.get(row.id) ?? this.newRow(row.id);
      r.data = row;
      r.name.textContent = row.name;
      r.tags.replaceChildren(...row.tags.map(([cls, text]) => h('span', { class: `tag ${cls}`, text })));
      r.li.draggable = row.draggable;
      r.button.setAttribute('aria-label', `Actions for ${row.name}`);
      const list = (this.lanes.get(row.lane) ?? this.lanes.values().next().value).list;
      if (r.li.parentElement !== list) list.append(r.li);
    }
    if (!this.rows.has(this.current)) this.current = rows[0]?.id ?? '';
    this.filter();
    if (focused && focused.isConnected && document.activeElement !== focused) focused.focus();
  }

  newLane(id) {
    const title = h('span', { class: 'lane-name' });
    const count = h('span', { class: 'count' });
    const timer = h('span', { class: 'count timer-chip' });
    const closeBtn = h('button', { type: 'button', class: 'link small-link', text: 'Close' });
    const list = h('ul', { class: 'lane-list' });
    const empty = h('p', { class: 'empty', text: 'Nobody here.' });
    const el = h('section', { class: 'room-card', 'data-room': id },
      h('h4', {}, title, h('span', { class: 'lane-meta' }, count, timer, closeBtn)), list, empty);
    const l = { el, title, count, timer, closeBtn, list, empty, lane: null };
    closeBtn.addEventListener('click', () => l.lane?.close?.());
    this.dropZone(el, id);
    this.lanes.set(id, l);
    return l;
  }

  fillLane(l, lane) {
    l.lane = lane;
    l.title.textContent = lane.planned ? `${lane.name} (planned)` : lane.name;
    l.el.setAttribute('aria-label', lane.name);
    l.el.classList.toggle('planned', !!lane.planned);
    l.el.classList.toggle('mine', !!lane.mine);
    l.el.classList.toggle('main-lane', lane.id === 'main');
    const cap = lane.capacity > 0 ? ` of ${lane.capacity}` : '';
    l.count.textContent = `${lane.count}${cap}`;
    l.count.setAttribute('aria-label', `${lane.count}${cap} ${lane.count === 1 && !cap ? 'person' : 'people'}`);
    l.count.title = l.count.getAttribute('aria-label');
    l.endsAt = lane.endsAt ?? 0;
    l.closeBtn.hidden = !lane.close;
    l.closeBtn.setAttribute('aria-label', `Close ${lane.name}`);
    l.empty.hidden = lane.count > 0;
    this.tickLane(l);
  }

  tickLane(l, now = Date.now()) {
    l.timer.hidden = !l.endsAt;
    if (l.endsAt) l.timer.textContent = clock((l.endsAt - now) / 1000);
  }

  /** Updates every lane's countdown; called every second. */
  tick() {
    const now = Date.now();
    for (const l of this.lanes.values()) this.tickLane(l, now);
  }

  newRow(pid) {
    const name = h('span', { class: 'name' });
    const tags = h('span', { class: 'tags' });
    // The name is what one drags (a drag cannot start on a button); the
    // button beside it is the person's menu and the board's tab stop.
    const button = h('button', { type: 'button', class: 'menu-button', 'aria-haspopup': 'menu', 'aria-expanded': 'false', tabindex: '-1' },
      h('span', { 'aria-hidden': 'true', text: '⋯' }));
    const who = h('span', { class: 'who' }, name, tags);
    const li = h('li', { class: 'member', 'data-pid': pid }, who, button);
    who.addEventListener('click', () => this.openMenu(pid, false));
    const r = { li, name, tags, button, data: null };
    li.addEventListener('dragstart', (e) => {
      this.closeMenu(false);
      e.dataTransfer.setData(DRAG_TYPE, pid);
      e.dataTransfer.setData('text/plain', r.data?.name ?? '');
      e.dataTransfer.effectAllowed = 'move';
    });
    button.addEventListener('click', () => (this.menu?.pid === pid ? this.closeMenu(true) : this.openMenu(pid, false)));
    button.addEventListener('keydown', (e) => this.rowKey(e, pid));
    button.addEventListener('focus', () => this.setCurrent(pid));
    this.rows.set(pid, r);
    return r;
  }

  dropZone(el, laneId) {
    el.addEventListener('dragover', (e) => {
      if (!e.dataTransfer.types.includes(DRAG_TYPE)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'move';
      el.classList.add('drop');
    });
    el.addEventListener('dragleave', () => el.classList.remove('drop'));
    el.addEventListener('drop', (e) => {
      el.classList.remove('drop');
      // The person is named by the drag's own data, never by what is under the pointer.
      const pid = e.dataTransfer.getData(DRAG_TYPE);
      if (!pid) return;
      e.preventDefault();
      this.o.move(pid, laneId);
    });
  }

  // --- search and the one tab stop -----------------------------------------

  filter() {
    const q = this.search.value.trim().toLowerCase();
    for (const r of this.rows.values()) r.li.hidden = !!q && !(r.data?.name ?? '').toLowerCase().includes(q);
    for (const l of this.lanes.values()) {
      const shown = [...l.list.children].filter((li) => !li.hidden).length;
      l.empty.hidden = shown > 0;
      l.empty.textContent = l.lane?.count ? 'Nobody here matches.' : 'Nobody here.';
    }
    const cur = this.rows.get(this.current);
    if (!cur || cur.li.hidden) this.current = this.visible()[0] ?? '';
    for (const [id, r] of this.rows) r.button.tabIndex = id === this.current ? 0 : -1;
  }

  /** Participant ids of the shown rows, in board order. */
  visible() {
    return [...this.root.querySelectorAll('li.member:not([hidden])')].map((li) => li.dataset.pid);
  }

  setCurrent(pid) {
    if (this.current === pid) return;
    this.rows.get(this.current)?.button.setAttribute('tabindex', '-1');
    this.current = pid;
    this.rows.get(pid)?.button.setAttribute('tabindex', '0');
  }

  focusRow(pid) {
    const r = this.rows.get(pid);
    if (!r) return;
    this.setCurrent(pid);
    r.button.focus();
  }

  rowKey(e, pid) {
    const order = this.visible();
    const i = order.indexOf(pid);
    const go = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: order.length - 1 }[e.key];
    if (go !== undefined) {
      e.preventDefault();
      const next = order[Math.max(0, Math.min(order.length - 1, go))];
      if (next) this.focusRow(next);
      return;
    }
    if (e.key === 'ArrowRight') {
      e.preventDefault();
      this.openMenu(pid, true);
    }
  }

  // --- the person's menu ------------------------------------------------------

  /**
   * Opens the menu of one person under their row.
   * @param {string} pid
   * @param {boolean} focusFirst move focus into the menu (keyboard)
   */
  openMenu(pid, focusFirst) {
    this.closeMenu(false);
    const r = this.rows.get(pid);
    if (!r?.data) return;
    const items = r.data.actions.map((a) => {
      const b = h('button', { type: 'button', role: 'menuitem', class: a.danger ? 'danger-item' : '', text: a.label, tabindex: '-1' });
      b.addEventListener('click', () => {
        this.closeMenu(true);
        a.run();
      });
      return b;
    });
    const el = h('div', { class: 'person-menu', role: 'menu', 'aria-label': `Actions for ${r.data.name}` }, ...items);
    el.addEventListener('keydown', (e) => this.menuKey(e, items));
    r.li.append(el);
    r.button.setAttribute('aria-expanded', 'true');
    this.menu = { pid, el, button: r.button };
    if (focusFirst || items.length) items[0]?.focus();
  }

  menuKey(e, items) {
    const i = items.indexOf(document.activeElement);
    const go = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[e.key];
    if (go !== undefined) {
      e.preventDefault();
      items[(go + items.length) % items.length]?.focus();
    } else if (e.key === 'Escape' || e.key === 'ArrowLeft') {
      e.preventDefault();
      this.closeMenu(true);
    } else if (e.key === 'Tab') {
      this.closeMenu(false);
    }
  }

  /** @param {boolean} refocus give focus back to the person's row */
  closeMenu(refocus) {
    if (!this.menu) return;
    const { el, button, pid } = this.menu;
    this.menu = null;
    el.remove();
    button.setAttribute('aria-expanded', 'false');
    if (refocus && this.rows.has(pid)) this.focusRow(pid);
  }

  /**
   * Marks who speaks now.
   * @param {Set<string>} ids
   */
  setSpeaking(ids) {
    for (const [id, r] of this.rows) r.li.classList.toggle('speaking', ids.has(id));
  }
}
