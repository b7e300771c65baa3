// Join time in a real browser (Chromium, or Firefox with BROWSER=firefox) against the real server: the timeline of a
// join from the Join click to the first audio packet received, over many
// joins (a new page each time), with p50/p99 per step. A benchmark, not a
// test: node --test does not run it (the name does not end in .test.js).
//
//   cd web/e2e && unshare -n sh -c 'ip link set lo up && node jointime.bench.js'
//
// (root; a network namespace with only loopback, as in BROWSER-TESTS.md.)
// JOINS (default 20) sets the number of measured joins; JOINTIME_JSON=1
// prints every join's timeline as JSON too. SANCTUARY_BIN picks a built
// server (otherwise `go build` runs first, as in the tests). The server's
// log is in artifacts/server-jointime.log (pion's PION_LOG_* variables
// pass through to it).
//
// One speaker page joins first and stays; then each measured join opens a
// new browser context and page, joins through the form, waits for the
// first audio packet from the speaker, and leaves. One warm-up join before
// the measured ones is not counted (the first page of a fresh browser
// process pays for starting its audio and network services). The page is
// observed, not changed: an init script wraps WebSocket, RTCPeerConnection
// and getUserMedia to timestamp their events. The first packet is seen two
// ways: the slot track's `unmute` (Chromium fires it when the first RTP
// packet arrives) and getStats inbound-rtp packetsReceived > 0.
//
// A join with no packet within 10 s is counted apart, with the states of
// its PeerConnection. Chromium runs with its default IP policy and loopback
// allowed, as in the tests (chromium.js); RECIPE=1 measures with
// BROWSER-TESTS.md's default_public_interface_only instead, under which
// Chromium in a loopback-only namespace now and then never starts ICE when
// the answer goes out before its getUserMedia resolves, as the client's
// does (cmd/sanctuary-bots/BENCHMARKS.md).

import { loadavg, cpus } from 'node:os';
import * as chromium from './chromium.js';
import * as firefox from './firefox.js';
import { startServer, freePort } from './server.js';

const JOINS = Number(process.env.JOINS || 20);
/** chromium (playwright-core) or firefox (puppeteer-core over WebDriver BiDi). */
const BROWSER = process.env.BROWSER || 'chromium';
/**
 * RELAY=1: the measured pages may use relay candidates only (as behind a
 * NAT that lets nothing but TURN through), through the server's embedded
 * TURN server. Chromium only.
 */
const RELAY = process.env.RELAY === '1';
/**
 * TCP=1: the measured pages drop the server's UDP candidates and do not
 * send their own, so media goes over ICE-TCP (the server's -tcp-port), as behind a firewall that drops
 * UDP. Chromium only.
 */
const TCP = process.env.TCP === '1';
/**
 * RECIPE=1: Chromium with BROWSER-TESTS.md's default_public_interface_only
 * policy instead of its default IP policy with loopback allowed; with no
 * default route it then gathers no candidate of its own (RELAY and TCP
 * always allow loopback).
 */
const RECIPE = process.env.RECIPE === '1';
/**
 * LINK=1: the measured pages join as people do, from a link with their
 * token in the fragment (#token=…&session=…), so the click sends no dev
 * token request first. The bench gets each token from the server's
 * /dev/token before opening the page.
 */
const LINK = process.env.LINK === '1';
/** How long a page may take to load and show the form (ms). */
const WAIT_MS = 20000;
/** A join with no audio packet after this is counted as failed (ms). */
const NO_PACKET_MS = 10000;
/** getStats polling period while waiting for the first packet (ms). */
const POLL_MS = 5;

/**
 * Runs in the page before its scripts: records, in performance.now() time,
 * the moments of the join in window.__jt. Observes only; changes nothing.
 */
function instrument(mode) {
  if (mode === 'tcp') {
    const Native = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends Native {
      addIceCandidate(c, ...rest) {
        if (c?.candidate && / udp /i.test(c.candidate)) return Promise.resolve();
        return super.addIceCandidate(c, ...rest);
      }
    };
  }
  if (mode === 'relay') {
    const Native = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends Native {
      constructor(config = {}) {
        super({ ...config, iceTransportPolicy: 'relay' });
      }
    };
  }
  const t = {};
  const mark = (k) => { if (!(k in t)) t[k] = performance.now(); };
  window.__jt = t;
  document.addEventListener('click', (e) => {
    if (e.target.closest?.('#join-button')) mark('click');
  }, true);

  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (c) => gum(c).then((s) => { mark('microphone'); return s; });

  const WS = window.WebSocket;
  const seen = (m) => {
    if (m?.type === 'batch') (m.messages ?? []).forEach(seen);
    else if (m?.type === 'welcome') mark('welcome');
    else if (m?.type === 'offer') mark('offer');
    else if (m?.type === 'candidate') (t.candidatesReceived ??= []).push([performance.now(), m.candidate?.candidate ?? null]);
  };
  window.WebSocket = class extends WS {
    constructor(...a) {
      mark('wsNew');
      super(...a);
      this.addEventListener('open', () => mark('wsOpen'));
      this.addEventListener('message', (e) => { try { seen(JSON.parse(e.data)); } catch { /* not JSON */ } });
    }

    send(d) {
      try {
        const m = JSON.parse(d);
        // TCP: the server must not learn our UDP candidates either.
        if (mode === 'tcp' && m.type === 'candidate' && / udp /i.test(m.candidate?.candidate ?? '')) return undefined;
        if (m.type === 'join') mark('joinSent');
        if (m.type === 'answer') mark('answerSent');
        if (m.type === 'candidate') (t.candidatesSent ??= []).push(m.candidate?.candidate ?? null);
      } catch { /* not JSON */ }
      return super.send(d);
    }
  };

  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PC {
    constructor(...a) {
      super(...a);
      window.__jtPC = this;
      this.addEventListener('iceconnectionstatechange', () => {
        if (this.iceConnectionState === 'connected' || this.iceConnectionState === 'completed') mark('iceConnected');
      });
      this.addEventListener('connectionstatechange', () => {
        if (this.connectionState === 'connected') mark('connected');
      });
      this.addEventListener('track', (e) => {
        e.track.addEventListener('unmute', () => mark('firstPacketUnmute'));
      });
    }

    async addIceCandidate(...a) {
      try {
        return await super.addIceCandidate(...a);
      } catch (e) {
        (t.addIceCandidateErrors ??= []).push(String(e));
        throw e;
      }
    }

    async setRemoteDescription(...a) {
      const r = await super.setRemoteDescription(...a);
      mark('srdDone');
      return r;
    }

    async createAnswer(...a) {
      const r = await super.createAnswer(...a);
      mark('createAnswerDone');
      return r;
    }

    async setLocalDescription(...a) {
      const r = await super.setLocalDescription(...a);
      if (this.localDescription?.type === 'answer') {
        // The DTLS transport exists once the answer is applied.
        const dtls = this.getTransceivers()[0]?.receiver.transport;
        if (dtls) dtls.addEventListener('statechange', () => { if (dtls.state === 'connected') mark('dtlsConnected'); });
        t.answerSetup = /a=setup:(\w+)/.exec(this.localDescription.sdp)?.[1];
        t.offerSetup = /a=setup:(\w+)/.exec(this.remoteDescription?.sdp ?? '')?.[1];
      }
      return r;
    }
  };
}

/**
 * In the page: poll getStats until an inbound audio packet is counted. The
 * polling starts once the PeerConnection is connected (no packet can arrive
 * before), so it does not compete with the join for the page's threads.
 */
function firstPacket([pollMs, waitMs]) {
  return new Promise((resolve) => {
    const t = window.__jt;
    const end = performance.now() + waitMs;
    const poll = async () => {
      const pc = window.__jtPC;
      if (pc?.connectionState === 'connected') {
        const report = await pc.getStats();
        let packets = 0;
        report.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'audio') packets += s.packetsReceived ?? 0;
          if (s.type === 'transport') t.dtlsRole = s.dtlsRole;
        });
        if (packets > 0) {
          t.firstPacketStats = performance.now();
          const transport = [...report.values()].find((x) => x.type === 'transport');
          const pair = report.get(transport?.selectedCandidatePairId);
          const local = report.get(pair?.localCandidateId);
          t.path = local ? `${local.protocol} ${local.candidateType}` : 'unknown';
          resolve(t);
          return;
        }
      }
      if (performance.now() > end) {
        t.final = { ice: pc?.iceConnectionState, gathering: pc?.iceGatheringState, pc: pc?.connectionState, signaling: pc?.signalingState };
        resolve(t);
        return;
      }
      setTimeout(poll, pollMs);
    };
    poll();
  });
}

/** A join link's fragment for a new participant of session (LINK=1), from the server's /dev/token. */
async function linkFragment(url, session, alias) {
  const q = new URLSearchParams({ session, role: 'participant', user: `jointime-${alias.replace(/\W/g, '')}` });
  const res = await fetch(`${url}/dev/token?${q}`);
  if (!res.ok) throw new Error(`dev token: HTTP ${res.status}`);
  const { token } = await res.json();
  return `#${new URLSearchParams({ token, session })}`;
}

/** Joins through the form in a new context; returns the page and its timeline. */
async function joinOnce(browser, url, session, alias, role) {
  const link = LINK && role !== 'host' ? await linkFragment(url, session, alias) : '';
  if (BROWSER === 'firefox') {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    await page.evaluateOnNewDocument(instrument);
    await page.goto(`${url}/${link}`);
    if (link) {
      await page.waitForSelector('#token-details', { hidden: true });
    } else {
      await page.waitForSelector('#dev-fields', { visible: true });
      await page.locator('#session-input').fill(session);
      await page.select('#dev-role', role);
    }
    await page.locator('#alias-input').fill(alias);
    await page.locator('#join-button').click();
    return { context, page };
  }
  const context = await browser.newContext();
  const mode = role === 'host' ? '' : (RELAY && 'relay') || (TCP && 'tcp') || '';
  await context.addInitScript(instrument, mode);
  const page = await context.newPage();
  await page.goto(`${url}/${link}`);
  if (link) {
    await page.locator('#token-details').waitFor({ state: 'hidden', timeout: WAIT_MS });
    await page.getByLabel('Name others see').fill(alias);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    return { context, page };
  }
  await page.locator('#dev-fields').waitFor({ state: 'visible', timeout: WAIT_MS });
  await page.getByLabel('Session', { exact: true }).fill(session);
  await page.getByLabel('Name others see').fill(alias);
  await page.getByLabel('Join as').selectOption(role);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  return { context, page };
}

/** Waits until the page's client is connected (the two drivers order the arguments differently). */
async function connected(page) {
  const fn = () => window.sanctuary?.client?.status === 'connected';
  if (BROWSER === 'firefox') await page.waitForFunction(fn, { timeout: WAIT_MS });
  else await page.waitForFunction(fn, null, { timeout: WAIT_MS });
}

async function leave({ context, page }) {
  await page.evaluate(() => window.sanctuary?.client?.leave()).catch(() => {});
  await context.close();
}

/**
 * The steps of the timeline: [label, key, the step it follows]. The step
 * column is the time from that earlier step; the microphone is asked for at
 * the click, in parallel with the websocket.
 */
const STEPS = [
  ['websocket created', 'wsNew', 'click'], // negative: opened on the form, before the click (preconnect)
  ['websocket open', 'wsOpen', 'wsNew'],
  ['join sent', 'joinSent', 'click'], // from the dev form, after its token request
  ['welcome', 'welcome', 'joinSent'],
  ['offer', 'offer', 'welcome'],
  ['microphone', 'microphone', 'click'],
  ['offer applied', 'srdDone', 'offer'],
  ['answer created', 'createAnswerDone', 'srdDone'],
  ['answer sent', 'answerSent', 'createAnswerDone'],
  ['ICE connected', 'iceConnected', 'answerSent'],
  ['DTLS connected', 'dtlsConnected', 'iceConnected'],
  ['PC connected', 'connected', 'dtlsConnected'],
  ['first packet (track unmute)', 'firstPacketUnmute', 'connected'],
  ['first packet (getStats)', 'firstPacketStats', 'connected'],
];

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summary(rows, key, from) {
  const v = rows.map((r) => r[key] - r[from]).filter(Number.isFinite).sort((a, b) => a - b);
  return { p50: percentile(v, 50), p99: percentile(v, 99), min: v[0], max: v[v.length - 1] };
}

const fmt = (x) => (Number.isFinite(x) ? x.toFixed(0).padStart(6) : '     -');

async function main() {
  const load0 = loadavg()[0];
  if ((RELAY || TCP) && BROWSER !== 'chromium') throw new Error('RELAY=1 and TCP=1 are measured in Chromium only');
  const args = [];
  if (RELAY) args.push('-turn-port', String(await freePort()));
  if (TCP) args.push('-tcp-port', String(await freePort()));
  const server = await startServer('jointime', args);
  const browser = await (BROWSER === 'firefox' ? firefox : chromium).launch({ loopbackSockets: !RECIPE || RELAY || TCP });
  const session = `jointime-${Date.now()}`;
  const rows = [];
  const failed = [];
  let speaker;
  try {
    speaker = await joinOnce(browser, server.url, session, 'Speaker', 'host');
    await connected(speaker.page);
    for (let i = 0; i <= JOINS; i++) {
      const j = await joinOnce(browser, server.url, session, `Joiner ${i}`, 'participant');
      const t = await j.page.evaluate(firstPacket, [POLL_MS, NO_PACKET_MS]);
      await leave(j);
      if (i === 0) continue; // warm-up
      if (Number.isFinite(t.firstPacketStats)) {
        rows.push(t);
        process.stderr.write('.');
      } else {
        failed.push(t);
        process.stderr.write('x');
      }
    }
    process.stderr.write('\n');
  } finally {
    if (speaker) await leave(speaker);
    await browser.close();
    await server.stop();
  }

  if (process.env.JOINTIME_JSON) console.log(JSON.stringify({ rows, failed }));
  const paths = [...new Set(rows.map((r) => r.path))].join(', ');
  const setups = [...new Set(rows.map((r) => `offer ${r.offerSetup}, answer ${r.answerSetup}, browser is DTLS ${r.dtlsRole}`))];
  const over = (RELAY && ' through TURN (relay only)') || (TCP && ' over ICE-TCP (UDP candidates dropped both ways)') || '';
  const from = LINK ? ', joining from a link with the token' : ', joining through the dev form (a token request first)';
  console.log(`Join timeline in ${BROWSER}${over}${from}: ${rows.length} joins with audio of ${rows.length + failed.length} (${setups.join('; ')}; media over ${paths})`);
  console.log(`${new Date().toISOString()}, ${cpus().length} cores, load average ${load0.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end`);
  console.log('ms since the Join click           p50    p99    min    max  | step  p50    p99');
  for (const [label, key, after] of STEPS) {
    const s = summary(rows, key, 'click');
    const d = summary(rows, key, after);
    console.log(`${label.padEnd(30)} ${fmt(s.p50)} ${fmt(s.p99)} ${fmt(s.min)} ${fmt(s.max)}  |     ${fmt(d.p50)} ${fmt(d.p99)}`);
  }
  const warm = rows.filter((r) => r.wsOpen < r.click).length;
  console.log(`websocket already open at the click (opened on the join form): ${warm} of ${rows.length} joins`);
  if (BROWSER === 'chromium') console.log('(getStats lags the first packet: Chromium serves getStats from a cache of up to 50 ms.)');
  for (const t of failed) {
    const f = t.final ?? {};
    console.log(`no audio within ${NO_PACKET_MS} ms: ICE ${f.ice}, gathering ${f.gathering}, PC ${f.pc}, `
      + `candidates from the server ${t.candidatesReceived?.length ?? 0}`);
  }
  if (failed.length) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
