// The operator's view: polls /api/v1/admin/overview every second with the
// admin token (kept in this tab's sessionStorage, sent as a Bearer header;
// no cookie). It shows counts, rooms and alerts: no user ids, no chat.

const KEY = 'sanctuary.adminToken';
const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

let timer = null;
let last = null; // the previous overview's server counters and time, for rates

/** The operator's state, for tests and the console. */
window.sanctuaryAdmin = { polls: 0, overview: null };

function token() { return sessionStorage.getItem(KEY) || ''; }

async function api(method, path) {
  const res = await fetch(`../api/v1/admin/${path}`, {
    method, headers: { Authorization: `Bearer ${token()}` }, cache: 'no-store',
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(body.message || `HTTP ${res.status}`);
    err.status = res.status;
    err.code = body.code;
    throw err;
  }
  return body;
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  e.append(...children);
  return e;
}

/** Per second between two polls of one counter; '–' before the second poll. */
function perSecond(nowValue, prevValue, nowTime, prevTime) {
  if (prevValue === undefined || nowTime <= prevTime) return '–';
  // A session's counters start again at 0 when its router is recreated.
  return Math.max(0, Math.round((nowValue - prevValue) / ((nowTime - prevTime) / 1000))).toLocaleString();
}

function rate(now, prev, key) {
  return perSecond(now.server[key], prev?.server[key], now.time, prev?.time ?? 0);
}

function sessionRate(s, prev, now, key) {
  const before = prev?.sessions.find((x) => x.id === s.id);
  return perSecond(s[key], before?.[key], now.time, prev?.time ?? 0);
}

function render(o) {
  window.sanctuaryAdmin.overview = o;
  $('srv-sessions').textContent = o.server.sessions;
  $('srv-participants').textContent = o.server.participants;
  $('srv-peers').textContent = o.server.peerConnections;
  $('srv-pps-in').textContent = rate(o, last, 'packetsReceived');
  $('srv-pps-out').textContent = rate(o, last, 'packetsForwarded');
  const prev = last;
  last = o;

  $('alert-count').textContent = o.alerts.length;
  $('no-alerts').hidden = o.alerts.length > 0;
  $('alerts').replaceChildren(...o.alerts.map((a) => {
    const where = a.roomName || a.room;
    const when = new Date(a.raised).toLocaleTimeString();
    const dismiss = el('button', { type: 'button', textContent: 'Dismiss' });
    dismiss.addEventListener('click', () => act('POST', `alerts/${encodeURIComponent(a.id)}/dismiss`));
    const li = el('li', {}, el('strong', { textContent: 'Alert' }),
      el('span', { className: 'alert-who', textContent: a.alias || a.participant }),
      el('span', { className: 'alert-where', textContent: `in ${where}` }),
      el('span', { className: 'alert-session', textContent: `session ${a.session}` }),
      el('time', { dateTime: a.raised, textContent: when }), dismiss);
    li.dataset.session = a.session;
    li.dataset.room = a.room;
    return li;
  }));

  $('no-sessions').hidden = o.sessions.length > 0;
  $('sessions').replaceChildren(...o.sessions.map((s) => {
    const rooms = el('ul', { className: 'rooms' }, ...s.rooms.map((r) =>
      el('li', { textContent: `${r.name}: ${r.participants}` })));
    const end = el('button', { type: 'button', textContent: 'End session' });
    end.addEventListener('click', () => {
      if (confirm(`End session ${s.id} for everyone?`)) act('POST', `sessions/${encodeURIComponent(s.id)}/end`);
    });
    const tr = el('tr', {},
      el('th', { scope: 'row', textContent: s.id }),
      el('td', { className: 'participants', textContent: s.participants }),
      el('td', { className: 'room-count' }, `${s.rooms.length - 1} breakout(s)`, rooms),
      el('td', { className: 'alerts', textContent: s.alerts }),
      el('td', { className: 'pps', textContent:
        `${sessionRate(s, prev, o, 'packetsReceived')} / ${sessionRate(s, prev, o, 'packetsForwarded')}` }),
      el('td', {}, el('time', { dateTime: s.created, textContent: new Date(s.created).toLocaleTimeString() })),
      el('td', {}, end));
    tr.dataset.session = s.id;
    return tr;
  }));
}

async function act(method, path) {
  try {
    await api(method, path);
  } catch (e) {
    $('status').textContent = `Failed: ${e.message}`;
  }
  poll();
}

async function poll() {
  clearTimeout(timer);
  try {
    render(await api('GET', 'overview'));
    window.sanctuaryAdmin.polls++;
    $('status').textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (e.status === 401 || e.status === 404) {
      signOut(e.status === 404 ? 'This server has no admin token configured.' : 'The admin token was refused.');
      return;
    }
    $('status').textContent = `Cannot reach the server: ${e.message}`;
  }
  timer = setTimeout(poll, POLL_MS);
}

function show(signedIn) {
  $('login').hidden = signedIn;
  $('dashboard').hidden = !signedIn;
  $('sign-out').hidden = !signedIn;
}

function signOut(message = '') {
  clearTimeout(timer);
  sessionStorage.removeItem(KEY);
  last = null;
  show(false);
  $('status').textContent = 'Not signed in';
  $('login-error').textContent = message;
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $('token-input').value.trim());
  $('token-input').value = '';
  $('login-error').textContent = '';
  show(true);
  poll();
});
$('sign-out').addEventListener('click', () => signOut());

if (token()) {
  show(true);
  poll();
}
