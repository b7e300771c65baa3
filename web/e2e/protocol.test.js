// The protocol layer (web/static/js/protocol.js) in node, against a fake
// websocket and a fake RTCPeerConnection: join, the one offer, candidate
// queues, versions and snapshots, commands, resume, ICE restart, fatal errors.

import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { SanctuaryClient, counters, preconnect } from '../static/js/protocol.js';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

class FakeWS {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeWS.all.push(this);
  }
  send(s) { this.sent.push(JSON.parse(s)); }
  close() { this.readyState = 3; }
  // test side
  open() { this.readyState = 1; this.onopen?.(); }
  receive(m) { this.onmessage?.({ data: JSON.stringify(m) }); }
  drop() { this.readyState = 3; this.onclose?.({}); }
  last(type) { return this.sent.filter((m) => m.type === type).at(-1); }
}

class FakePC {
  static all = [];
  constructor() {
    this.transceivers = [];
    this.added = [];
    this.closed = false;
    this.connectionState = 'new';
    this.iceConnectionState = 'new';
    FakePC.all.push(this);
  }
  async setRemoteDescription(d) {
    this.remoteDescription = d;
    for (const [, mid] of d.sdp.matchAll(/a=mid:(\S+)/g)) {
      const t = { mid, direction: 'recvonly', sender: { track: null }, receiver: { track: { id: `track-${mid}` } } };
      t.sender.replaceTrack = async (tr) => { t.sender.track = tr; };
      this.transceivers.push(t);
    }
  }
  getTransceivers() { return this.transceivers; }
  async createAnswer() { return { type: 'answer', sdp: 'answer-sdp' }; }
  async setLocalDescription(d) { this.localDescription = d; }
  async addIceCandidate(c) {
    if (!this.remoteDescription) throw new Error('no remote description');
    this.added.push(c ?? null);
  }
  close() { this.closed = true; }
  // test side
  candidate(c) { this.onicecandidate?.({ candidate: c && { toJSON: () => c } }); }
  connect() { this.connectionState = 'connected'; this.onconnectionstatechange?.(); }
  ice(state) { this.iceConnectionState = state; this.oniceconnectionstatechange?.(); }
}

const mic = { kind: 'audio', enabled: true, stop() {} };
const OFFER = { type: 'offer', sdp: 'v=0\r\na=mid:0\r\na=mid:1\r\na=mid:2\r\n', upstreamMid: '0', slotMids: ['1', '2'] };
const SNAP = { session: 's', version: 4, participants: [{ id: 'p-me', alias: 'Quiet Fox', role: 'participant', room: 'main' }] };

function newClient(extra = {}) {
  const c = new SanctuaryClient({
    url: 'ws://x/ws', token: 'tok', session: 's', alias: 'Quiet Fox',
    getMicrophone: async () => ({ getAudioTracks: () => [mic] }),
    WebSocket: FakeWS, RTCPeerConnection: FakePC, backoffMs: [5], ...extra,
  });
  const seen = [];
  for (const t of ['status', 'problem', 'closed', 'tracks', 'event']) {
    c.addEventListener(t, (e) => seen.push([t, e.detail]));
  }
  return { c, seen };
}

/**
 * Starts a client and takes it through welcome and the offer; settle waits
 * for the client to take the offer (a short real tick by default).
 */
async function joined(extra, settle = () => tick(5)) {
  const { c, seen } = newClient(extra);
  c.start();
  const ws = FakeWS.all.at(-1);
  ws.open();
  ws.receive({ type: 'welcome', id: ws.last('join').id, participantId: 'p-me', slots: 2, snapshot: SNAP, resumeKey: 'k1' });
  ws.receive(OFFER);
  await settle();
  return { c, seen, ws, pc: FakePC.all.at(-1) };
}

/** Runs the microtasks queued so far, and those they queue (the fakes resolve in microtasks). */
async function flush() {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

/** joined() for tests on mocked timers: waits for microtasks, not for the clock. */
const joinedOnMockedTimers = (extra) => joined(extra, flush);

describe('protocol layer', () => {
  beforeEach(() => {
    FakeWS.all = [];
    FakePC.all = [];
  });

  it('joins, answers the one offer, and sends the microphone upstream', async () => {
    const before = { ...counters };
    const { c, seen } = newClient();
    c.start();
    const ws0 = FakeWS.all[0];
    ws0.open();
    const j = ws0.last('join');
    assert.deepEqual([j.token, j.session, j.alias], ['tok', 's', 'Quiet Fox']);
    ws0.receive({ type: 'welcome', id: j.id, participantId: 'p-me', slots: 2, snapshot: SNAP });
    ws0.receive(OFFER);
    ws0.receive({ type: 'candidate', candidate: { candidate: 'c1', sdpMid: '0' } }); // before the remote description
    await tick(5);
    const p = FakePC.all[0];
    assert.equal(FakePC.all.length, 1);
    assert.deepEqual(p.added, [{ candidate: 'c1', sdpMid: '0' }]);
    const [up, s1, s2] = p.transceivers;
    assert.equal(up.direction, 'sendonly');
    assert.equal(up.sender.track, mic);
    assert.deepEqual([s1.direction, s2.direction], ['recvonly', 'recvonly']);
    assert.equal(ws0.last('answer').sdp, 'answer-sdp');
    assert.deepEqual(seen.find(([t]) => t === 'tracks')[1].tracks.map((t) => t.id), ['track-1', 'track-2']);
    p.candidate({ candidate: 'l1' });
    p.candidate(null);
    assert.deepEqual(ws0.sent.filter((m) => m.type === 'candidate').map((m) => m.candidate), [{ candidate: 'l1' }, null]);
    p.connect();
    assert.equal(c.status, 'connected');
    assert.equal(counters.peerConnections - before.peerConnections, 1);
    assert.equal(counters.offers - before.offers, 1);
    assert.equal(counters.answers - before.answers, 1);
  });

  it('joins at once on a socket opened before the click', () => {
    const before = counters.warmJoins;
    preconnect('ws://x/ws', FakeWS);
    preconnect('ws://x/ws', FakeWS); // a fresh one is open or opening: no second
    assert.equal(FakeWS.all.length, 1);
    const ws = FakeWS.all[0];
    assert.deepEqual(ws.sent, [], 'nothing is sent before the join');
    ws.open();
    const { c } = newClient();
    c.start();
    assert.equal(FakeWS.all.length, 1, 'the join took the open socket');
    assert.equal(c.ws, ws);
    assert.deepEqual(ws.sent.map((m) => m.type), ['join'], 'sent in the click, not on a later open');
    assert.equal(counters.warmJoins - before, 1);
  });

  it('joins on a preconnected socket still opening once it opens', () => {
    preconnect('ws://x/ws', FakeWS);
    const { c } = newClient();
    c.start();
    const ws = FakeWS.all[0];
    assert.equal(FakeWS.all.length, 1);
    assert.deepEqual(ws.sent, []);
    ws.open();
    assert.deepEqual(ws.sent.map((m) => m.type), ['join']);
    assert.equal(c.ws, ws);
  });

  it('opens its own socket when the preconnected one closed or is for another URL', () => {
    preconnect('ws://x/ws', FakeWS);
    FakeWS.all[0].drop(); // the server went away
    const { c } = newClient();
    c.start();
    assert.equal(FakeWS.all.length, 2);
    assert.equal(c.ws, FakeWS.all[1]);
    preconnect('ws://other/ws', FakeWS);
    const other = FakeWS.all[2];
    const { c: c2 } = newClient();
    c2.start();
    assert.equal(FakeWS.all.length, 4, 'a socket to another server is not taken');
    assert.equal(c2.ws, FakeWS.all[3]);
    preconnect('ws://x/ws', FakeWS); // a new URL closes the old socket
    assert.equal(other.readyState, 3);
    const { c: c3 } = newClient();
    c3.start();
    assert.equal(c3.ws, FakeWS.all[4]);
  });

  it('closes a preconnected socket no join took before the server would, and opens a fresh one on the next call', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    preconnect('ws://x/ws', FakeWS);
    const first = FakeWS.all[0];
    first.open();
    t.mock.timers.tick(3999);
    preconnect('ws://x/ws', FakeWS);
    assert.equal(FakeWS.all.length, 1, 'still fresh');
    t.mock.timers.tick(1);
    assert.equal(first.readyState, 3, 'closed before the server\'s 5 s auth_timeout');
    const { c } = newClient();
    c.start();
    assert.equal(FakeWS.all.length, 2, 'the join does not take an expired socket');
    c.stop('left');
    preconnect('ws://x/ws', FakeWS);
    assert.equal(FakeWS.all.length, 3);
    const { c: c2 } = newClient();
    c2.start();
    assert.equal(c2.ws, FakeWS.all[2]);
  });

  it('sends a track given by replaceMicTrack while the microphone was opening, not the one asked for', async () => {
    let open;
    const raw = { kind: 'audio', enabled: true, stop() {} };
    const disguised = { kind: 'audio', enabled: true, stop() {} };
    const { c, ws, pc } = await joined({ getMicrophone: () => new Promise((r) => { open = r; }) });
    await c.replaceMicTrack(disguised);
    open({ getAudioTracks: () => [raw] });
    await tick(5);
    assert.equal(pc.transceivers[0].sender.track, disguised);
    assert.equal(ws.sent.filter((m) => m.type === 'answer').length, 1);
  });

  it('starts applying an offer that came with the welcome before the page hears of the welcome', async () => {
    const { c } = newClient();
    c.start();
    const ws = FakeWS.all.at(-1);
    ws.open();
    const applying = [];
    c.addEventListener('state', () => applying.push(FakePC.all.at(-1)?.remoteDescription?.type ?? 'none'));
    ws.receive({ type: 'batch', messages: [
      { type: 'welcome', id: ws.last('join').id, participantId: 'p-me', slots: 2, snapshot: SNAP },
      OFFER,
    ] });
    assert.deepEqual(applying, ['offer'], 'the page heard of the welcome once, after the offer was on its way');
    await tick(5);
    assert.equal(ws.sent.filter((m) => m.type === 'answer').length, 1);
  });

  it('answers before the microphone opens, and sends it once it does', async () => {
    let open;
    const raw = { kind: 'audio', enabled: true, stop() {} };
    const { c, ws, pc } = await joined({ getMicrophone: () => new Promise((r) => { open = r; }) });
    assert.equal(ws.sent.filter((m) => m.type === 'answer').length, 1, 'the room is heard while the microphone opens');
    assert.equal(pc.transceivers[0].direction, 'sendonly');
    assert.equal(pc.transceivers[0].sender.track, null);
    const muted = c.setMicEnabled(false); // settles once the microphone is open
    open({ getAudioTracks: () => [raw] });
    await muted;
    await tick(5);
    assert.equal(pc.transceivers[0].sender.track, null, 'muted before it opened: nothing sent once it is');
    assert.equal(raw.enabled, false);
    await c.setMicEnabled(true);
    assert.equal(pc.transceivers[0].sender.track, raw);
    assert.equal(raw.enabled, true);
    assert.equal(ws.sent.filter((m) => m.type === 'answer').length, 1, 'no second answer');
  });

  it('sends a disguise given just after the microphone opened, not the raw microphone', async () => {
    let open;
    const raw = { kind: 'audio', enabled: true, stop() {} };
    const disguised = { kind: 'audio', enabled: true, stop() {} };
    const { c, pc } = await joined({ getMicrophone: () => new Promise((r) => { open = r; }) });
    open({ getAudioTracks: () => [raw] });
    c.mic.then(() => c.replaceMicTrack(disguised)); // runs between the microphone opening and the sender's sync
    await tick(5);
    assert.equal(pc.transceivers[0].sender.track, disguised);
  });

  it('answers with nothing to send when the microphone is refused, and says so', async () => {
    const { seen, ws, pc } = await joined({ getMicrophone: async () => { throw new Error('NotAllowedError'); } });
    assert.equal(ws.sent.filter((m) => m.type === 'answer').length, 1);
    assert.equal(pc.transceivers[0].direction, 'sendonly');
    assert.equal(pc.transceivers[0].sender.track, null);
    assert.deepEqual(seen.filter(([t]) => t === 'problem').map(([, d]) => d.code), ['microphone']);
  });

  it('holds local candidates until the answer is sent', async () => {
    const { c } = newClient();
    c.start();
    const ws = FakeWS.all[0];
    ws.open();
    ws.receive({ type: 'welcome', id: ws.last('join').id, participantId: 'p-me', slots: 2, snapshot: SNAP });
    ws.receive(OFFER);
    FakePC.all[0].candidate({ candidate: 'early' }); // gathered before the answer went out
    await tick(5);
    const types = ws.sent.map((m) => m.type);
    assert.ok(types.indexOf('answer') < types.indexOf('candidate'), types.join(','));
  });

  it('ignores a second offer: no second RTCPeerConnection', async () => {
    const { ws, seen } = await joined();
    ws.receive(OFFER);
    await tick(5);
    assert.equal(FakePC.all.length, 1);
    assert.equal(ws.sent.filter((m) => m.type === 'answer').length, 1);
    assert.ok(seen.some(([t, d]) => t === 'problem' && d.code === 'renegotiation_unsupported'));
  });

  it('applies events in order and asks for a snapshot on a gap', async () => {
    const { c, ws } = await joined();
    const joinedEv = (v, id) => ({ type: 'event', event: 'participant.joined', version: v,
      participant: { id, alias: id, role: 'participant', room: 'main' } });
    ws.receive(joinedEv(5, 'p-a'));
    ws.receive(joinedEv(5, 'p-a')); // stale: ignored
    assert.equal(c.state.version, 5);
    ws.receive(joinedEv(7, 'p-c')); // 6 is missing
    assert.equal(c.state.version, 5);
    const req = ws.last('snapshot');
    assert.ok(req, 'a snapshot request');
    ws.receive(joinedEv(8, 'p-d')); // buffered meanwhile
    ws.receive({ type: 'snapshot', id: req.id, snapshot: { ...SNAP, version: 7,
      participants: [...SNAP.participants, { id: 'p-a', room: 'main' }, { id: 'p-b', room: 'main' }, { id: 'p-c', room: 'main' }] } });
    assert.equal(c.state.version, 8);
    assert.deepEqual([...c.state.participants.keys()], ['p-me', 'p-a', 'p-b', 'p-c', 'p-d']);
  });

  it('answers commands with ok or a coded error', async () => {
    const { c, ws } = await joined();
    const ok = c.command('move', { participantId: 'p-a', room: 'r-1' });
    const m = ws.last('move');
    assert.deepEqual([m.participantId, m.room], ['p-a', 'r-1']);
    ws.receive({ type: 'ok', id: m.id, version: 9 });
    assert.equal((await ok).version, 9);
    const bad = c.command('breakouts.assign', { mode: 'balanced' });
    ws.receive({ type: 'error', id: ws.last('breakouts.assign').id, code: 'forbidden', message: 'no' });
    await assert.rejects(bad, (e) => e.code === 'forbidden');
  });

  it('tracks the last chat seq per stream and sends it as chatSince when it joins again', async () => {
    const { c, ws } = await joined();
    assert.deepEqual(ws.last('join').chatSince, {});
    const got = [];
    const deleted = [];
    c.addEventListener('chat', (e) => got.push(e.detail));
    c.addEventListener('chat.deleted', (e) => deleted.push(e.detail));
    const msg = (stream, seq, text, extra = {}) => ({ stream, seq, clientMsgId: `c${seq}`, from: 'p-a', alias: 'A', text, at: 1, ...extra });
    ws.receive({ type: 'chat', ...msg('room:main', 3, '<b>not bold</b>') });
    ws.receive({ type: 'batch', messages: [{ type: 'chat', ...msg('all', 1, 'to all') }, { type: 'chat.deleted', stream: 'room:main', seq: 3 }] });
    ws.drop();
    await tick(20);
    const ws2 = FakeWS.all.at(-1);
    ws2.open();
    assert.deepEqual(ws2.last('join').chatSince, { 'room:main': 3, all: 1 });
    ws2.receive({ type: 'welcome', id: ws2.last('join').id, participantId: 'p-me', slots: 2, snapshot: SNAP });
    ws2.receive({ type: 'chat.replay', messages: [msg('room:main', 4, 'missed'), msg('room:main', 5, '', { deleted: true })],
      deleted: [{ stream: 'all', seq: 1 }] });
    assert.deepEqual(got.map((m) => [m.stream, m.seq, m.text, m.deleted, m.replayed]), [
      ['room:main', 3, '<b>not bold</b>', false, false],
      ['all', 1, 'to all', false, false],
      ['room:main', 4, 'missed', false, true],
      ['room:main', 5, '', true, true],
    ]);
    assert.deepEqual(deleted, [{ stream: 'room:main', seq: 3 }, { stream: 'all', seq: 1 }]);
    assert.deepEqual(c.chatSince, { 'room:main': 5, all: 1 });

    const sent = c.sendChat('hello', { clientMsgId: 'm-1' });
    const m = ws2.last('chat.send');
    assert.deepEqual([m.clientMsgId, m.text, m.to], ['m-1', 'hello', 'room']);
    ws2.receive({ type: 'ok', id: m.id, stream: 'room:main', seq: 6 });
    assert.equal((await sent).seq, 6);
    const limited = c.sendChat('again', { to: 'all' });
    const m2 = ws2.last('chat.send');
    assert.ok(m2.clientMsgId && m2.clientMsgId !== 'm-1', 'a fresh client id');
    ws2.receive({ type: 'error', id: m2.id, code: 'rate_limited', message: 'slow down' });
    await assert.rejects(limited, (e) => e.code === 'rate_limited');
  });

  it('resumes on a new socket after a drop, keeping the PeerConnection, and fails pending commands', async () => {
    const { c, ws, pc, seen } = await joined();
    pc.connect();
    ws.receive({ type: 'event', event: 'participant.updated', version: 5, participant: { id: 'p-me', alias: 'Quiet Fox', role: 'participant', room: 'main', state: 'connected' } });
    const pending = c.command('hand', { enabled: true });
    ws.drop();
    await assert.rejects(pending, (e) => e.code === 'disconnected');
    assert.equal(pc.closed, false, 'the PeerConnection carries audio while the socket is down');
    assert.equal(c.status, 'reconnecting');
    await tick(20);
    const ws2 = FakeWS.all.at(-1);
    assert.notEqual(ws2, ws);
    ws2.open();
    const j = ws2.last('join');
    assert.deepEqual(j.resume, { key: 'k1', version: 5 }, 'resumes with the key and the last version applied');
    ws2.receive({ type: 'welcome', id: j.id, participantId: 'p-me', slots: 2, resumeKey: 'k1', resumed: true });
    ws2.receive({ type: 'event', event: 'hand.raised', version: 6, participant: { id: 'p-me' } });
    await tick(5);
    assert.equal(FakePC.all.length, 1, 'no new PeerConnection');
    assert.equal(c.status, 'connected');
    assert.equal(c.state.version, 6, 'the missed events apply on the kept state');
    assert.ok(!seen.some(([t]) => t === 'closed'));
  });

  it('follows a redirect to the owner of the session, and goes back to its first URL when that node is gone', async () => {
    const before = counters.redirects;
    const { c } = newClient();
    c.start();
    const ws0 = FakeWS.all[0];
    ws0.open();
    ws0.receive({ type: 'redirect', id: ws0.last('join').id, url: 'ws://node-a/ws' });
    assert.equal(ws0.readyState, 3, 'the redirected socket is closed');
    const ws1 = FakeWS.all.at(-1);
    assert.equal(ws1.url, 'ws://node-a/ws', 'joins at once on the owner');
    ws1.open();
    assert.equal(ws1.last('join').session, 's');
    ws1.receive({ type: 'welcome', id: ws1.last('join').id, participantId: 'p-me', slots: 2, snapshot: SNAP, resumeKey: 'k1' });
    ws1.receive(OFFER);
    await tick(5);
    FakePC.all.at(-1).connect();
    assert.equal(c.status, 'connected');
    assert.equal(counters.redirects, before + 1);
    ws1.drop(); // node A goes down
    await tick(20);
    const ws2 = FakeWS.all.at(-1);
    assert.equal(ws2.url, 'ws://node-a/ws', 'a first reconnect tries the owner again');
    ws2.drop(); // it does not answer: never opened
    await tick(20);
    const ws3 = FakeWS.all.at(-1);
    assert.equal(ws3.url, 'ws://x/ws', 'then the URL it started from, which sends it on');
    ws3.open();
    assert.deepEqual(ws3.last('join').resume, { key: 'k1', version: 4 }, 'a resume, which a new node answers afresh');
    ws3.receive({ type: 'redirect', id: ws3.last('join').id, url: 'ws://node-b/ws' });
    assert.equal(FakeWS.all.at(-1).url, 'ws://node-b/ws');
    c.stop();
  });

  it('negotiates afresh when the server does not resume', async () => {
    const { c, ws, pc } = await joined();
    pc.connect();
    ws.drop();
    await tick(20);
    const ws2 = FakeWS.all.at(-1);
    ws2.open();
    ws2.receive({ type: 'welcome', id: ws2.last('join').id, participantId: 'p-me', slots: 2, snapshot: SNAP, resumeKey: 'k2' });
    assert.equal(pc.closed, true, 'the old PeerConnection is closed');
    ws2.receive(OFFER);
    await tick(5);
    assert.equal(FakePC.all.length, 2, 'a new join has its own PeerConnection');
    FakePC.all[1].connect();
    assert.equal(c.status, 'connected');
  });

  it('asks for an ICE restart when ICE fails and answers the restart offer on the same PeerConnection', async () => {
    const before = counters.iceRestarts;
    const { ws, pc } = await joined();
    pc.connect();
    const answers = ws.sent.filter((m) => m.type === 'answer').length;
    pc.ice('failed');
    const req = ws.last('ice.restart');
    assert.ok(req, 'asks ice.restart');
    ws.receive({ ...OFFER, id: req.id, iceRestart: true, sdp: 'v=0\r\na=mid:0\r\na=ice-ufrag:new\r\n' });
    await tick(5);
    assert.equal(FakePC.all.length, 1, 'the same PeerConnection');
    assert.match(pc.remoteDescription.sdp, /ice-ufrag:new/);
    assert.equal(ws.sent.filter((m) => m.type === 'answer').length, answers + 1, 'one answer to the restart');
    assert.equal(counters.iceRestarts, before + 1);
    // The server's ice_failed asks for the same.
    ws.receive({ type: 'error', code: 'ice_failed', message: 'x' });
    assert.equal(ws.sent.filter((m) => m.type === 'ice.restart').length, 2);
  });

  // The next three run on mocked timers: what must not happen before a
  // wait ends is checked before the clock moves, not raced against it.
  it('restarts ICE that failed before it ever connected, and keeps the PeerConnection that then connects', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    let open;
    const { ws, pc, c } = await joinedOnMockedTimers({ iceFailedGraceMs: 20, getMicrophone: () => new Promise((r) => { open = r; }) });
    pc.ice('failed'); // Firefox, not capturing yet, on a host with no default route
    await flush();
    const req = ws.last('ice.restart');
    assert.ok(req, 'asks ice.restart');
    t.mock.timers.tick(1000);
    await flush();
    assert.equal(FakeWS.all.length, 1, 'no fresh start while the microphone is not open');
    open({ getAudioTracks: () => [mic] });
    ws.receive({ ...OFFER, id: req.id, iceRestart: true, sdp: 'v=0\r\na=mid:0\r\na=ice-ufrag:new\r\n' });
    await flush();
    pc.ice('connected');
    pc.connect();
    t.mock.timers.tick(1000);
    await flush();
    assert.equal(FakeWS.all.length, 1, 'no fresh start');
    assert.equal(pc.closed, false);
    assert.equal(c.status, 'connected');
  });

  it('starts afresh when ICE failed before it ever connected and is still failed after the microphone opened', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    let open;
    const { ws, pc } = await joinedOnMockedTimers({ iceFailedGraceMs: 20, getMicrophone: () => new Promise((r) => { open = r; }) });
    pc.ice('failed');
    await flush();
    assert.ok(ws.last('ice.restart'), 'asks ice.restart first');
    open({ getAudioTracks: () => [mic] });
    await flush();
    t.mock.timers.tick(19);
    await flush();
    assert.equal(pc.closed, false, 'the grace time first');
    t.mock.timers.tick(1);
    await flush();
    assert.equal(pc.closed, true, 'the failed PeerConnection is closed');
    t.mock.timers.tick(1000); // the reconnect's backoff
    const ws2 = FakeWS.all.at(-1);
    assert.notEqual(ws2, ws);
    ws2.open();
    assert.equal(ws2.last('join').resume, undefined, 'a fresh join, not a resume');
  });

  it('in Firefox, gathers for its answer once the microphone opened, or after micBeforeGatheringMs', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    let open;
    const { ws, pc } = await joinedOnMockedTimers({ micBeforeGatheringMs: 60, getMicrophone: () => new Promise((r) => { open = r; }) });
    assert.equal(pc.localDescription, undefined, 'no setLocalDescription (Firefox gathers then) before the microphone');
    assert.equal(ws.last('answer'), undefined);
    open({ getAudioTracks: () => [mic] });
    await flush();
    assert.equal(ws.last('answer').sdp, 'answer-sdp', 'answered once the microphone opened');
    const slow = await joinedOnMockedTimers({ micBeforeGatheringMs: 20, getMicrophone: () => new Promise(() => {}) }); // a permission prompt
    t.mock.timers.tick(19);
    await flush();
    assert.equal(slow.ws.last('answer'), undefined);
    t.mock.timers.tick(1);
    await flush();
    assert.equal(slow.ws.last('answer').sdp, 'answer-sdp', 'answered without the microphone after the wait');
  });

  it('starts afresh, without resume, when a PeerConnection that never connected fails', async () => {
    const { ws, pc } = await joined();
    ws.receive({ type: 'error', code: 'ice_failed', message: 'x' });
    assert.equal(ws.last('ice.restart'), undefined, 'no ICE restart for a PeerConnection that never connected');
    assert.equal(pc.closed, true, 'the stuck PeerConnection is closed');
    await tick(20);
    const ws2 = FakeWS.all.at(-1);
    assert.notEqual(ws2, ws);
    ws2.open();
    assert.equal(ws2.last('join').resume, undefined, 'a fresh join, not a resume');
  });

  it('says the server is unreachable after failed opens, and keeps trying', async () => {
    const { c, seen } = newClient();
    c.start();
    for (let i = 0; i < 3; i++) {
      FakeWS.all.at(-1).drop(); // never opened
      await tick(20);
    }
    assert.ok(seen.some(([t, d]) => t === 'problem' && d.code === 'unreachable'));
    assert.ok(FakeWS.all.length >= 4);
    c.stop('left');
  });

  for (const [name, msg, code] of [
    ['an expired token', (ws) => ({ type: 'error', id: ws.last('join').id, code: 'token_expired', message: 'x' }), 'token_expired'],
    ['removal by the host', () => ({ type: 'removed', reason: 'disruptive' }), 'removed'],
    ['a takeover by another window', () => ({ type: 'replaced', message: 'x' }), 'replaced'],
  ]) {
    it(`stops for good on ${name}`, async () => {
      const { c, seen } = newClient();
      c.start();
      const ws = FakeWS.all[0];
      ws.open();
      ws.receive(msg(ws));
      ws.drop();
      await tick(20);
      assert.equal(FakeWS.all.length, 1, 'no reconnect');
      assert.equal(c.status, 'closed');
      assert.deepEqual(seen.filter(([t]) => t === 'closed').map(([, d]) => d.code), [code]);
    });
  }

  it('leaves without reconnecting', async () => {
    const { c, ws, seen } = await joined();
    const done = c.leave();
    ws.receive({ type: 'ok', id: ws.last('leave').id });
    await done;
    ws.drop();
    await tick(20);
    assert.equal(FakeWS.all.length, 1);
    assert.deepEqual(seen.filter(([t]) => t === 'closed').map(([, d]) => d.code), ['left']);
  });

  it('mutes by sending nothing: the sender carries no track while muted, the microphone again once unmuted', async () => {
    const { c, pc } = await joined();
    const sender = pc.transceivers[0].sender;
    assert.equal(sender.track, mic);
    await c.setMicEnabled(false);
    assert.deepEqual([sender.track, mic.enabled], [null, false]);
    await c.setMicEnabled(true);
    assert.deepEqual([sender.track, mic.enabled], [mic, true]);
  });

  it('keeps a disguise given while muted off the sender until the microphone is unmuted', async () => {
    const { c, pc } = await joined();
    const sender = pc.transceivers[0].sender;
    const disguised = { kind: 'audio', enabled: true, stop() {} };
    // Pressed in quick succession: each call reads the state when its turn comes.
    const calls = [c.setMicEnabled(false), c.replaceMicTrack(disguised), c.setMicEnabled(false)];
    await Promise.all(calls);
    assert.deepEqual([sender.track, disguised.enabled], [null, false]);
    await c.setMicEnabled(true);
    assert.deepEqual([sender.track, disguised.enabled], [disguised, true]);
  });
});
