/**
 * The protocol layer: one websocket and one RTCPeerConnection per join,
 * as signaling/PROTOCOL.md describes. No DOM: the UI listens to the events
 * of a {@link SanctuaryClient} and calls its methods.
 *
 * Events (CustomEvent, data in `detail`):
 * - `status`  {status: 'connecting'|'reconnecting'|'connected'|'closed'}
 * - `state`   the session state changed (read `client.state`)
 * - `event`   one session event, applied (broadcasts, warnings, moves…)
 * - `slots`   {slots: string[]} who each downstream slot carries
 * - `tracks`  {tracks: MediaStreamTrack[]} the slot tracks of a new join
 * - `problem` {code, fatal} something the person should be told
 * - `retry`   {attempt, delayMs, everOpened} a reconnect is scheduled
 * - `reaction` {participantId, emoji}
 * - `chat`    {stream, seq, clientMsgId, from, alias, text, at, deleted?, replayed}: one chat
 *             message, live or replayed after a (re)join. `text` is plain text: render it with
 *             textContent, never as HTML.
 * - `chat.deleted` {stream, seq} a moderator deleted a message
 * @module protocol
 */

import { SessionState } from './state.js';
import { isFatal } from './errors.js';

/**
 * Counters for tests and diagnostics. A join creates exactly one
 * RTCPeerConnection and gets exactly one offer; moves never add any.
 */
export const counters = {
  joins: 0, // join messages sent (one per websocket)
  welcomes: 0,
  offers: 0, // offers received
  answers: 0,
  peerConnections: 0, // RTCPeerConnection constructions
  reconnects: 0, // websockets opened after the first
  resumes: 0, // welcomes that kept the PeerConnection across a new websocket
  redirects: 0, // joins sent on to the node that owns the session (several nodes)
  iceRestarts: 0, // ICE restart offers answered
  warmJoins: 0, // joins sent on a socket opened before the Join click (preconnect)
  /**
   * Why each websocket ended, oldest first (the last {@link MAX_DROPS}):
   * {at, cause: 'close'|'pong_timeout', code, reason, wasClean, lastError, opened, ...}.
   * lastError is the last error code the server sent on that socket.
   */
  drops: [],
};
/** counters.drops keeps this many entries. */
const MAX_DROPS = 20;

/** Records why a socket ended in counters.drops. */
function recordDrop(drop) {
  counters.drops.push({ at: new Date().toISOString(), ...drop });
  if (counters.drops.length > MAX_DROPS) counters.drops.shift();
}

/** Redirects followed in a row without a welcome before backing off. */
const MAX_REDIRECTS = 3;

/** Delays before reconnect attempts (ms); the last repeats, with ±20% jitter. */
const BACKOFF_MS = [250, 1000, 2000, 4000, 8000, 15000];
/** A command not answered in this time fails with `timeout` (ms). */
const COMMAND_TIMEOUT_MS = 10000;
/** An application ping every 15 s; no pong in 10 s means the socket is dead. */
const PING_EVERY_MS = 15000;
const PONG_TIMEOUT_MS = 10000;
/** After this many failed opens in a row, tell the person the server is unreachable. */
const UNREACHABLE_AFTER = 3;
/** ICE `disconnected` this long (ms) means the network changed: ask for an ICE restart. */
const DISCONNECTED_RESTART_MS = 3000;
/**
 * ICE still `new` this long (ms) after our answer: the browser never started
 * checking (seen in Chromium on a starved machine: gathering never ends).
 * A fresh PeerConnection on a new join recovers; waiting for the server's
 * 30 s ICE timeout would not.
 */
const ICE_STUCK_MS = 10000;

/**
 * A PeerConnection whose ICE failed before it ever connected is given this
 * long (ms) after the microphone opened, its ICE restart asked for, before
 * the client starts afresh (see oniceconnectionstatechange).
 */
const ICE_FAILED_GRACE_MS = 1000;

/**
 * Firefox gathers ICE candidates on the default route's interface only (and
 * hides host addresses) until the page captures. Its answer's gathering
 * waits this long (ms) at most for the microphone.
 */
const MIC_BEFORE_GATHERING_MS = 1000;
const GATHERS_ON_DEFAULT_ROUTE_UNTIL_CAPTURE = /\bFirefox\//.test(globalThis.navigator?.userAgent ?? '');

/** WebSocket.OPEN, spelled out so the module loads where WebSocket is not global. */
const OPEN = 1;

/**
 * A socket opened before the person asks to join is at most this old when a
 * join takes it (ms). The server closes a socket that has not joined within
 * 5 s (PROTOCOL.md, auth_timeout); we close ours before that.
 */
const WARM_MAX_MS = 4000;

/** The socket {@link preconnect} opened, until a join takes it or it expires. */
let warm = null;

/**
 * Opens a websocket to url now, for the next join to that url to take.
 * Opening one costs a browser about 30 ms even on loopback (Chromium's
 * socket goes through its network process); done while the person is
 * on the join form, that time is no longer part of the join. Nothing is
 * sent on it until the join: the join message is still the socket's
 * first. At most one such socket exists; it is closed after
 * WARM_MAX_MS, and a later call opens a fresh one. A call while a fresh
 * one is open or opening does nothing, so the page may call this on
 * every sign that the person is about to join.
 * @param {string} url the websocket URL the client will be given
 * @param {typeof WebSocket} [WS] for tests; the browser's by default
 */
export function preconnect(url, WS = globalThis.WebSocket) {
  if (warm && warm.url === url && warm.WS === WS && warm.ws.readyState <= OPEN) return;
  dropWarm();
  const ws = new WS(url);
  const w = { url, WS, ws, timer: null };
  ws.onclose = () => {
    if (warm === w) dropWarm();
  };
  ws.onerror = () => {}; // a close event follows
  w.timer = setTimeout(() => {
    if (warm === w) dropWarm();
  }, WARM_MAX_MS);
  warm = w;
}

/** Closes the socket preconnect opened, if any. */
function dropWarm() {
  const w = warm;
  warm = null;
  if (!w) return;
  clearTimeout(w.timer);
  w.ws.onclose = w.ws.onerror = null;
  if (w.ws.readyState <= OPEN) w.ws.close();
}

/** The socket preconnect opened to url with WS, if it is still opening or open; it is the caller's now. */
function takeWarm(url, WS) {
  const w = warm;
  if (!w || w.url !== url || w.WS !== WS || w.ws.readyState > OPEN) return null;
  warm = null;
  clearTimeout(w.timer);
  w.ws.onclose = w.ws.onerror = null;
  return w.ws;
}

/** A failed request or a reason the client stopped. */
export class ProtocolError extends Error {
  /** @param {string} code a protocol error code @param {string} [message] the server's text */
  constructor(code, message = code) {
    super(message);
    this.code = code;
  }
}

/** A client of one session: join, media, commands, reconnect. */
export class SanctuaryClient extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.url the websocket URL (ws://host/ws)
   * @param {string} o.token a JWT for the session
   * @param {string} [o.session] the session id (optional when the token names one)
   * @param {string} [o.alias] the alias others see
   * @param {() => Promise<MediaStream>} [o.getMicrophone] defaults to getUserMedia({audio: true})
   * @param {RTCConfiguration} [o.rtcConfig]
   * @param {typeof WebSocket} [o.WebSocket] for tests; the browser's by default
   * @param {typeof RTCPeerConnection} [o.RTCPeerConnection] for tests; the browser's by default
   * @param {number[]} [o.backoffMs] reconnect delays; BACKOFF_MS by default
   * @param {number} [o.iceFailedGraceMs] for tests; ICE_FAILED_GRACE_MS by default
   * @param {number} [o.micBeforeGatheringMs] for tests; MIC_BEFORE_GATHERING_MS in Firefox, 0 elsewhere
   */
  constructor(o) {
    super();
    this.opts = o;
    this.state = new SessionState();
    /** @type {string} my participant id, from welcome */
    this.participantId = '';
    /** @type {string[]} slots[i]: the participant id in slot i, "" when silent */
    this.slots = [];
    /** @type {string[]} the m-line mid of each slot, from the offer */
    this.slotMids = [];
    /** @type {RTCPeerConnection|null} the one PeerConnection of the current join */
    this.pc = null;
    /** @type {WebSocket|null} */
    this.ws = null;
    this.status = 'idle';
    this.micEnabled = true;
    this.stopped = false;
    this.leaving = false;
    this.everConnected = false;
    this.failedOpens = 0;
    this.attempt = 0;
    this.nextId = 1;
    /** @type {Map<string, {resolve: Function, reject: Function, timer: any}>} */
    this.pending = new Map();
    this.awaitingSnapshot = false;
    this.buffered = [];
    this.mic = null; // Promise<MediaStreamTrack|null>, asked once for the client's life
    /** @type {string} presented on reconnect to keep the PeerConnection (welcome.resumeKey) */
    this.resumeKey = '';
    /** @type {string} orders this client's joins (join.clientId) */
    this.clientId = Math.random().toString(36).slice(2) + Date.now().toString(36);
    /** @type {Record<string, number>} per chat stream, the seq of the last message received: every join's chatSince */
    this.chatSince = {};
  }

  /** Starts connecting (and asks for the microphone at the same time). */
  start() {
    const get = this.opts.getMicrophone ?? (() => navigator.mediaDevices.getUserMedia({ audio: true }));
    this.mic = Promise.resolve()
      .then(get)
      .then((s) => s.getAudioTracks()[0] ?? null)
      .catch(() => {
        this.emit('problem', { code: 'microphone', fatal: false });
        return null;
      });
    this.open();
  }

  /**
   * Sends a session command and waits for its answer.
   * @param {string} type e.g. 'move', 'breakouts.create'
   * @param {object} [fields] the command's fields (see PROTOCOL.md)
   * @returns {Promise<object>} the `ok` message (with `version`)
   * @throws {ProtocolError} the server's error, `disconnected` or `timeout`
   */
  command(type, fields = {}) {
    return this.request({ ...fields, type });
  }

  /**
   * Sends a chat message. To retry one after a reconnect, send it again with
   * the same clientMsgId: the server posts it once.
   * @param {string} text plain text, at most 2000 characters
   * @param {object} [o]
   * @param {string} [o.to] 'room' (default), 'all' (hosts and moderators), 'staff', or 'staff:<participant id>'
   * @param {string} [o.clientMsgId] a new random id by default
   * @returns {Promise<object>} the `ok` message, with the message's `stream` and `seq`
   * @throws {ProtocolError} the server's error (`invalid`, `rate_limited`, `forbidden`…), `disconnected` or `timeout`
   */
  sendChat(text, { to = 'room', clientMsgId = randomId() } = {}) {
    return this.request({ type: 'chat.send', clientMsgId, text, to });
  }

  /**
   * Mutes or unmutes my microphone. Muted, the upstream sender carries no
   * track, so the browser sends no audio packets at all: a track merely
   * disabled (`enabled = false`) would go on sending 50 packets a second of
   * digital silence, which the server would receive and decrypt only to
   * hold back (PROTOCOL.md, "Muting sends nothing"). The track is disabled
   * too, so the level meter reads silence meanwhile. No renegotiation
   * either way.
   * Settles once the microphone is open and the sender carries what it
   * should.
   * @param {boolean} enabled
   */
  async setMicEnabled(enabled) {
    this.micEnabled = enabled;
    await this.syncSender();
  }

  /**
   * Sends another microphone track from now on (voice disguise on or off),
   * on the same PeerConnection: no renegotiation. Stopping the old track is
   * the caller's business.
   * @param {MediaStreamTrack} track
   */
  async replaceMicTrack(track) {
    this.mic = Promise.resolve(track);
    await this.syncSender();
  }

  /**
   * Gives the upstream sender what it should carry now: the microphone (the
   * last track given, the one asked for or a disguise) while it is on,
   * nothing while it is muted, and enables the track to match. There is no
   * await between reading that state and replaceTrack, and a browser applies
   * replaceTrack calls in the order they were made (the PeerConnection's
   * operations chain), so the last call leaves the sender right in whatever
   * order the microphone opens, a disguise comes and the mute button is
   * pressed.
   * @returns {Promise<void>} rejects if the sender refused the track
   */
  async syncSender() {
    let mic;
    let track;
    do {
      mic = this.mic;
      track = await mic;
    } while (mic !== this.mic);
    if (track) track.enabled = this.micEnabled;
    await this.upstream?.sender.replaceTrack((this.micEnabled && track) || null);
  }

  /** Leaves the session for good: no reconnect, the record goes at once. */
  async leave() {
    if (this.stopped) return;
    this.leaving = true; // the server closes the socket after its ok: no reconnect
    if (this.ws?.readyState === OPEN) {
      await Promise.race([this.request({ type: 'leave' }).catch(() => {}), sleep(1000)]);
    }
    this.stop('left');
  }

  /**
   * Per-slot receive statistics and levels, plus my own microphone level
   * (null when the browser's statistics have none: Firefox).
   * @returns {Promise<{self: number|null, slots: {index: number, mid: string, participant: string,
   *   packetsReceived: number, audioLevel: number, totalAudioEnergy: number}[]}>}
   */
  async slotStats() {
    const pc = this.pc;
    const out = { self: null, slots: [] };
    if (!pc) return out;
    const report = await pc.getStats();
    const byMid = new Map();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') byMid.set(s.mid, s);
      if (s.type === 'media-source' && s.kind === 'audio' && s.audioLevel !== undefined) out.self = s.audioLevel;
    });
    this.slotMids.forEach((mid, index) => {
      const s = byMid.get(mid) ?? {};
      out.slots.push({
        index, mid, participant: this.slots[index] ?? '',
        packetsReceived: s.packetsReceived ?? 0, audioLevel: s.audioLevel ?? 0,
        totalAudioEnergy: s.totalAudioEnergy ?? 0,
      });
    });
    return out;
  }

  // --- websocket ---------------------------------------------------------

  open() {
    if (this.stopped) return;
    this.setStatus(this.everConnected ? 'reconnecting' : 'connecting');
    const WS = this.opts.WebSocket ?? globalThis.WebSocket;
    // A redirect names the node that owns the session; until one of its
    // sockets fails to open, we join there.
    const url = this.redirectUrl || this.opts.url;
    const pre = takeWarm(url, WS);
    const ws = pre ?? new WS(url);
    this.ws = ws;
    this.lastError = ''; // the last error code received on this socket
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.failedOpens = 0;
      if (counters.joins > 0) counters.reconnects++;
      counters.joins++;
      this.joinId = this.newId();
      const { token, session, alias } = this.opts;
      // clientId and attempt let the server ignore a late join from a socket we gave up.
      this.attempts = (this.attempts ?? 0) + 1;
      const join = {
        type: 'join', id: this.joinId, token, session, alias, batch: true, chatSince: { ...this.chatSince },
        clientId: this.clientId, attempt: this.attempts,
      };
      // A websocket cut is not an audio cut: the PeerConnection lived on,
      // and the server keeps it for us if we show its key.
      if (this.pc && this.resumeKey && this.pc.connectionState !== 'failed') {
        join.resume = { key: this.resumeKey, version: this.state.version };
      }
      if (pre) counters.warmJoins++;
      this.send(join);
      this.startPinger(ws);
    };
    ws.onmessage = (e) => {
      this.lastMessageAt = Date.now();
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      if (m.type === 'batch' && Array.isArray(m.messages)) {
        // Several messages in one frame (we joined with batch: true). The
        // page hears of them once all are applied: an offer that came with
        // the welcome starts on its way before the page renders the room.
        this.held = [];
        try {
          for (const one of m.messages) {
            if (ws !== this.ws) return; // a message in the batch closed this socket
            this.onMessage(one);
          }
        } finally {
          const held = this.held;
          this.held = null;
          for (const [type, detail] of held) this.dispatchEvent(new CustomEvent(type, { detail }));
        }
        return;
      }
      this.onMessage(m);
    };
    ws.onclose = (e) => {
      if (ws === this.ws) {
        recordDrop({ cause: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean,
          lastError: this.lastError, opened, pc: this.peerSummary() });
      }
      this.dropped(ws, opened);
    };
    ws.onerror = () => {}; // a close event follows
    if (ws.readyState === OPEN) ws.onopen(); // a preconnected socket opened before the click
  }

  /** The socket ws is gone: tidy up and schedule a reconnect. */
  dropped(ws, opened) {
    if (ws !== this.ws) return;
    this.ws = null;
    ws.onclose = ws.onmessage = ws.onopen = null;
    clearInterval(this.pinger);
    // The PeerConnection stays: it carries audio while we reconnect, and
    // the join that resumes keeps it.
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ProtocolError('disconnected'));
    }
    this.pending.clear();
    if (this.stopped || this.leaving) return;
    if (!opened && this.redirectUrl) {
      // The node we were sent to is gone: the URL we started from sends us
      // to whichever node owns the session now.
      this.redirectUrl = '';
    }
    if (!opened && ++this.failedOpens === UNREACHABLE_AFTER) {
      this.emit('problem', { code: 'unreachable', fatal: false });
    }
    const backoff = this.opts.backoffMs ?? BACKOFF_MS;
    const base = backoff[Math.min(this.attempt, backoff.length - 1)];
    const delayMs = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.attempt++;
    this.setStatus(this.everConnected ? 'reconnecting' : 'connecting');
    this.emit('retry', { attempt: this.attempt, delayMs, everOpened: opened });
    this.retryTimer = setTimeout(() => this.open(), delayMs);
  }

  startPinger(ws) {
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      if (ws !== this.ws) return;
      const sent = Date.now();
      const timer = setTimeout(() => {
        if (ws === this.ws) {
          recordDrop({ cause: 'pong_timeout', waitedMs: Date.now() - sent,
            sinceMessageMs: Date.now() - this.lastMessageAt, lastError: this.lastError, opened: true,
            pc: this.peerSummary() });
        }
        try {
          ws.close();
        } catch {
          // already closing
        }
        this.dropped(ws, true); // do not wait for a dead TCP connection's close
      }, PONG_TIMEOUT_MS);
      this.request({ type: 'ping' }).then(() => clearTimeout(timer), () => clearTimeout(timer));
    }, PING_EVERY_MS);
  }

  send(m) {
    if (this.ws?.readyState !== OPEN) return false;
    this.ws.send(JSON.stringify(m));
    return true;
  }

  newId() {
    return String(this.nextId++);
  }

  request(m) {
    return new Promise((resolve, reject) => {
      const id = this.newId();
      if (!this.send({ ...m, id })) {
        reject(new ProtocolError('disconnected'));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError('timeout'));
      }, COMMAND_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  /** Stops for good: closes the socket and the PeerConnection. */
  stop(code, message) {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pinger);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      ws.close();
    }
    this.closePeer();
    this.mic?.then((t) => t?.stop());
    this.setStatus('closed');
    this.emit('closed', { code, message });
  }

  /**
   * Another node owns the session (PROTOCOL.md, redirect): join there at
   * once, with the same join (a resume too). More than MAX_REDIRECTS in a
   * row without a welcome are taken for a drop, with its backoff.
   */
  onRedirect(url) {
    const ws = this.ws;
    if (!ws || typeof url !== 'string' || !/^wss?:\/\//.test(url)) return;
    this.redirects = (this.redirects ?? 0) + 1;
    if (this.redirects > MAX_REDIRECTS) return; // the server's close follows: dropped() backs off
    counters.redirects++;
    this.redirectUrl = url;
    this.ws = null;
    ws.onclose = ws.onmessage = ws.onopen = null;
    clearInterval(this.pinger);
    ws.close();
    this.open();
  }

  // --- messages ----------------------------------------------------------

  onMessage(m) {
    if (m.type === 'error') this.lastError = m.code;
    if (m.id && this.pending.has(m.id) && m.type !== 'snapshot') {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.type === 'error') p.reject(new ProtocolError(m.code, m.message));
      else p.resolve(m);
      return;
    }
    switch (m.type) {
      case 'welcome':
        counters.welcomes++;
        this.participantId = m.participantId;
        this.iceServers = m.iceServers ?? []; // TURN with this participant's credentials
        this.resumeKey = m.resumeKey ?? '';
        this.attempt = 0;
        this.redirects = 0;
        this.awaitingSnapshot = false;
        this.buffered = [];
        if (m.resumed) {
          counters.resumes++;
          // The missed events follow; a snapshot comes only when they were not all kept.
          if (m.snapshot) this.state.load(m.snapshot);
          if (this.pc?.connectionState === 'connected') this.setStatus('connected');
          if (['disconnected', 'failed'].includes(this.pc?.iceConnectionState)) this.restartIce();
        } else {
          this.closePeer(); // a new offer follows for a new PeerConnection
          this.state.load(m.snapshot ?? {});
        }
        this.emit('state', {});
        break;
      case 'offer':
        if (m.iceRestart) {
          this.onRestartOffer(m).catch((err) => console.error('sanctuary: ICE restart', err));
          break;
        }
        counters.offers++;
        this.onOffer(m).catch((err) => {
          console.error('sanctuary: offer', err);
          this.emit('problem', { code: 'ice_failed', fatal: false });
        });
        break;
      case 'candidate':
        this.onRemoteCandidate(m.candidate ?? null);
        break;
      case 'slots':
        this.slots = m.slots ?? [];
        this.emit('slots', { slots: this.slots });
        break;
      case 'event':
        this.onEvent(m);
        break;
      case 'snapshot':
        this.onSnapshot(m.snapshot ?? {});
        break;
      case 'reaction':
        this.emit('reaction', { participantId: m.participantId, emoji: m.emoji });
        break;
      case 'chat':
        this.onChat(m, false);
        break;
      case 'chat.replay':
        for (const one of m.messages ?? []) this.onChat(one, true);
        for (const d of m.deleted ?? []) this.emit('chat.deleted', { stream: d.stream, seq: d.seq });
        break;
      case 'chat.deleted':
        this.emit('chat.deleted', { stream: m.stream, seq: m.seq });
        break;
      case 'redirect':
        this.onRedirect(m.url);
        break;
      case 'replaced':
        this.stop('replaced', m.message);
        break;
      case 'removed':
        this.stop('removed', m.reason);
        break;
      case 'error':
        this.onError(m);
        break;
      default:
        break; // pong, ok without a pending request, types added later
    }
  }

  /** One chat message: remember its seq for the next join's chatSince, and tell the UI. */
  onChat(m, replayed) {
    // The last received, not the highest: a session created anew restarts its seqs.
    this.chatSince[m.stream] = m.seq;
    const { stream, seq, clientMsgId, from, alias, text, at, deleted = false } = m;
    this.emit('chat', { stream, seq, clientMsgId, from, alias, text, at, deleted, replayed });
  }

  onError(m) {
    if (isFatal(m.code)) {
      this.stop(m.code, m.message);
      return;
    }
    if (m.code === 'ice_failed') {
      // The socket stays open: a PeerConnection that worked restarts ICE on
      // a new path; one that never connected starts afresh.
      if (this.pcConnected) this.restartIce();
      else this.renegotiateAfresh('ice_failed');
      return;
    }
    // Errors that close the socket (ice_failed, shutting_down, internal)
    // are followed by a close: dropped() reconnects.
    this.emit('problem', { code: m.code, fatal: false, message: m.message });
  }

  onEvent(ev) {
    if (this.awaitingSnapshot) {
      this.buffered.push(ev);
      return;
    }
    const r = this.state.apply(ev);
    if (r === 'gap') {
      this.awaitingSnapshot = true;
      this.buffered = [ev];
      this.send({ type: 'snapshot', id: this.newId() });
      return;
    }
    if (r === 'applied') this.applied(ev);
  }

  onSnapshot(snap) {
    this.state.load(snap);
    this.awaitingSnapshot = false;
    const later = this.buffered.sort((a, b) => a.version - b.version);
    this.buffered = [];
    this.emit('state', {});
    for (const ev of later) this.onEvent(ev);
  }

  applied(ev) {
    this.emit('event', ev);
    this.emit('state', {});
    if (ev.event === 'session.ended') this.stop('session_ended');
  }

  // --- media -------------------------------------------------------------

  async onOffer(m) {
    if (this.pc) {
      // The protocol never sends a second offer for one join.
      this.emit('problem', { code: 'renegotiation_unsupported', fatal: false });
      return;
    }
    const PC = this.opts.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    const rtcConfig = { ...(this.opts.rtcConfig ?? {}) };
    if (this.iceServers?.length) {
      rtcConfig.iceServers = [...(rtcConfig.iceServers ?? []), ...this.iceServers];
    }
    const pc = new PC(rtcConfig);
    counters.peerConnections++;
    this.pc = pc;
    this.remoteSet = false;
    this.remoteQueue = [];
    this.localQueue = [];
    this.answered = false;
    this.ice = { local: 0, remote: 0, remoteError: '' }; // for counters.drops
    pc.onicecandidate = (e) => {
      if (e.candidate) this.ice.local++;
      const c = e.candidate ? e.candidate.toJSON() : null;
      if (this.answered) this.send({ type: 'candidate', candidate: c });
      else this.localQueue.push(c);
    };
    this.pcConnected = false;
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === 'connected') {
        this.everConnected = true;
        this.pcConnected = true;
        if (this.ws?.readyState === OPEN) this.setStatus('connected');
      }
    };
    pc.oniceconnectionstatechange = () => {
      if (pc !== this.pc) return;
      clearTimeout(this.iceTimer);
      const st = pc.iceConnectionState;
      // ICE failed: ask for a restart. One that never connected also gets
      // ICE_FAILED_GRACE_MS after the microphone opens, and then starts
      // afresh. Firefox gathers on the default route's interface only
      // until the page captures, and the answer may go out before the
      // microphone opens: on a host with no default route (a laptop
      // offline, a test namespace) its first ICE fails. The restart mostly
      // mends it, its offer arriving once the page captures; when it came
      // too soon and failed too, only a new PeerConnection does
      // (BENCHMARKS.md, "Firefox before its microphone").
      if (st === 'failed') {
        this.restartIce();
        if (!this.pcConnected) this.mic?.then(() => this.afreshIfStillFailed(pc));
      }
      if (st === 'disconnected') this.iceTimer = setTimeout(() => this.restartIce(), DISCONNECTED_RESTART_MS);
    };

    await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
    if (pc !== this.pc) return;
    this.remoteSet = true;
    for (const c of this.remoteQueue) this.addRemote(pc, c);
    this.remoteQueue = [];

    const byMid = (mid) => pc.getTransceivers().find((t) => t.mid === mid);
    const up = byMid(m.upstreamMid);
    this.slotMids = m.slotMids ?? [];
    for (const mid of this.slotMids) {
      const t = byMid(mid);
      if (t) t.direction = 'recvonly';
    }
    // The answer does not wait for the microphone: the room is heard while
    // it opens, or while the browser asks the person for it, and the track
    // joins the sender later by replaceTrack (no renegotiation). Except, a
    // little, in Firefox: it gathers candidates on the default route's
    // interface only until the page captures (BENCHMARKS.md, "Firefox
    // before its microphone"), which on a host with no default route fails
    // ICE. Its gathering, which setLocalDescription starts, waits for the
    // microphone, at most MIC_BEFORE_GATHERING_MS.
    this.upstream = up ?? null;
    if (up) up.direction = 'sendonly';
    this.syncSender(); // the microphone once it is open, unless muted

    const answer = await pc.createAnswer();
    const waitMs = this.opts.micBeforeGatheringMs ?? (GATHERS_ON_DEFAULT_ROUTE_UNTIL_CAPTURE ? MIC_BEFORE_GATHERING_MS : 0);
    if (waitMs > 0) {
      let timer;
      await Promise.race([this.mic, new Promise((r) => { timer = setTimeout(r, waitMs); })]);
      clearTimeout(timer);
    }
    if (pc !== this.pc) return;
    await pc.setLocalDescription(answer);
    if (pc !== this.pc) return;
    this.send({ type: 'answer', id: this.newId(), sdp: pc.localDescription.sdp });
    counters.answers++;
    // The page plays the slot tracks from here: the answer did not wait for
    // its audio elements, and no packet can come before ICE and DTLS.
    this.emit('tracks', { tracks: this.slotMids.map((mid) => byMid(mid)?.receiver.track ?? null) });
    clearTimeout(this.stuckTimer);
    this.stuckTimer = setTimeout(() => {
      if (pc === this.pc && pc.iceConnectionState === 'new') this.renegotiateAfresh('ice_stuck');
    }, ICE_STUCK_MS);
    this.answered = true;
    for (const c of this.localQueue) this.send({ type: 'candidate', candidate: c });
    this.localQueue = [];
  }

  /**
   * Starts afresh after ICE_FAILED_GRACE_MS if pc's ICE is failed now and
   * still then (see oniceconnectionstatechange; any ICE state change
   * clears the timer).
   */
  afreshIfStillFailed(pc) {
    if (pc !== this.pc || pc.iceConnectionState !== 'failed') return;
    clearTimeout(this.iceTimer);
    this.iceTimer = setTimeout(() => {
      if (pc === this.pc && pc.iceConnectionState === 'failed') this.renegotiateAfresh('ice_failed');
    }, this.opts.iceFailedGraceMs ?? ICE_FAILED_GRACE_MS);
  }

  /**
   * Gives up the current PeerConnection and joins again on a new socket
   * without resume: the server negotiates a new one. For a PeerConnection
   * that never connected (an ICE restart cannot help a browser that never
   * started checking).
   */
  renegotiateAfresh(why) {
    const ws = this.ws;
    recordDrop({ cause: why, opened: true, lastError: this.lastError, pc: this.peerSummary() });
    this.closePeer();
    this.resumeKey = '';
    if (ws) {
      ws.close();
      this.dropped(ws, true); // at once: do not wait for the close handshake
    }
  }

  /**
   * Asks for an ICE restart on the one PeerConnection (the network changed
   * or the media path failed). Without a socket the resume will do: the
   * server re-sends a pending restart offer, and a failed PeerConnection is
   * replaced by a fresh negotiation.
   */
  restartIce() {
    if (!this.pc || !this.answered || this.restarting) return;
    this.restarting = true;
    this.request({ type: 'ice.restart' })
      .then((m) => this.onRestartOffer(m))
      .catch(() => {})
      .finally(() => {
        this.restarting = false;
      });
  }

  /** Answers an ICE restart offer on the current PeerConnection. */
  async onRestartOffer(m) {
    const pc = this.pc;
    if (!pc) return;
    await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (pc !== this.pc) return;
    this.send({ type: 'answer', id: this.newId(), sdp: pc.localDescription.sdp });
    counters.iceRestarts++;
  }

  onRemoteCandidate(c) {
    if (!this.pc || !this.remoteSet) {
      this.remoteQueue?.push(c);
      return;
    }
    this.addRemote(this.pc, c);
  }

  addRemote(pc, c) {
    // null: the server gathered all its candidates.
    if (c) this.ice.remote++;
    pc.addIceCandidate(c ?? undefined).catch((err) => {
      this.ice.remoteError = String(err);
    });
  }

  /** The PeerConnection's states and candidate counts, for counters.drops. */
  peerSummary() {
    const pc = this.pc;
    if (!pc) return null;
    return { connection: pc.connectionState, ice: pc.iceConnectionState, gathering: pc.iceGatheringState,
      signaling: pc.signalingState, answered: this.answered, ...this.ice };
  }

  closePeer() {
    if (!this.pc) return;
    const pc = this.pc;
    this.pc = null;
    this.upstream = null; // replaceMicTrack must not reach a closed sender
    pc.onicecandidate = pc.onconnectionstatechange = pc.oniceconnectionstatechange = null;
    clearTimeout(this.iceTimer);
    clearTimeout(this.stuckTimer);
    pc.close();
    this.remoteQueue = [];
    this.slots = [];
    this.emit('slots', { slots: [] });
  }

  // --- helpers -----------------------------------------------------------

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit('status', { status });
  }

  emit(type, detail) {
    if (this.held) this.held.push([type, detail]);
    else this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** A random id for a chat message (crypto.randomUUID where there is one). */
function randomId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
