// The speaker selection with real browsers: more people than slots, and the
// server's selection ticker, which re-ranks speakers by loudness every 50 ms
// only while a room has more open microphones than slots. A muted browser
// keeps sending, at the level of silence (track.enabled = false): the ticker
// must take it for silent, sleep, and wake when microphones open again.
// Three people in Chromium and one in Firefox ESR, whose muted track must
// count as silent too. The server holds that silence back rather than
// forward it (source.holdSilence).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { launch as launchFirefox, join as joinFirefox } from './firefox.js';
import { startServer } from './server.js';
import { join, WAIT_MS } from './people.js';

const SESSION = 'e2e-selection';

/**
 * Polls read() every 100 ms until ok(value) holds, bounded by WAIT_MS; on
 * time out, throws what(last value read).
 */
async function waitUntil(read, ok, what) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const last = await read();
    if (ok(last)) return;
    if (Date.now() > deadline) throw new Error(what(last));
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One of the server's metrics, by name. */
async function metric(server, name) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `the server exports ${name}`);
  return Number(line.split(' ')[1]);
}

/** Waits until the server has held back more than `from` packets of silence. */
const holdsSilenceFrom = (server, from) =>
  waitUntil(() => metric(server, 'sanctuary_rtp_silence_held_total'), (n) => n > from,
    (n) => `the server held back ${n} packets of silence, no more than ${from}`);

/** Waits until the gauge of sessions whose ticker runs every 50 ms is `want`. */
const waitTickers = (server, want, what) =>
  waitUntil(() => metric(server, 'sanctuary_selection_tickers_running'), (n) => n === want,
    (n) => `${what}: sanctuary_selection_tickers_running stayed ${n}, want ${want}`);

/**
 * Mutes or unmutes a person with the mute button, in Chromium (Playwright)
 * or Firefox (Puppeteer): both pages have locator().click() and evaluate().
 */
async function setMuted(person, muted) {
  const enabled = () => person.page.evaluate(() => window.sanctuary.client.micEnabled);
  if ((await enabled()) === !muted) return;
  await person.page.locator('#mute-button').click();
  await waitUntil(enabled, (on) => on === !muted,
    () => `${person.alias}: the microphone did not ${muted ? 'mute' : 'open'}`);
}

/** Audio packets the person's browser has sent, from its own getStats. */
function packetsSent(person) {
  return person.page.evaluate(async () => {
    let n = 0;
    (await window.sanctuary.client.pc.getStats()).forEach((r) => {
      if (r.type === 'outbound-rtp' && r.kind === 'audio') n += r.packetsSent;
    });
    return n;
  });
}

/** Waits until the person's browser has sent more than `from` packets. */
const sendsOnFrom = (person, from) =>
  waitUntil(() => packetsSent(person), (n) => n > from, (n) => `${person.alias}: sent ${n} packets, no more than ${from}`);

describe('speaker selection in browsers', { timeout: 420000 }, () => {
  let server;
  let chromium;
  let firefox;
  const people = [];

  before(async () => {
    server = await startServer('selection', ['-slots', '2']);
    chromium = await launch();
    firefox = await launchFirefox();
    people.push(await join(chromium, server.url, { session: SESSION, alias: 'Host Heron', role: 'host' }));
    people.push(await join(chromium, server.url, { session: SESSION, alias: 'Quiet Fox', role: 'participant' }));
    people.push(await join(chromium, server.url, { session: SESSION, alias: 'Blue Otter', role: 'participant' }));
    people.push(await joinFirefox(firefox, server.url, { session: SESSION, alias: 'Fire Finch', role: 'participant' }));
  });

  after(async () => {
    for (const p of people) if (p?.errors.length) console.log(`${p.alias} page errors:`, p.errors);
    await chromium?.close();
    await firefox?.close();
    await server?.stop();
  });

  it('four open microphones for two slots keep the ticker running; two muted let it sleep; one reopened wakes it', async () => {
    const [, fox, , finch] = people;
    // Four fake microphones, two slots: loudness decides.
    await waitTickers(server, 1, 'four open microphones, two slots');

    // Two mute, one in each browser. Both go on sending at the level of
    // silence: two open microphones for two slots, and the ticker sleeps.
    // If either muted browser counted as loud, it would go on running.
    await setMuted(fox, true);
    await setMuted(finch, true);
    await waitTickers(server, 0, 'two open microphones, one muted Chromium, one muted Firefox');
    // Muted, both still send: what the ticker took for silence was
    // packets at the level of silence, not no packets. And the server
    // holds that silence back instead of forwarding it (after half a
    // second of each run): 100 packets are two seconds of one muted
    // browser, one second of both.
    const held = await metric(server, 'sanctuary_rtp_silence_held_total');
    for (const p of [fox, finch]) await sendsOnFrom(p, await packetsSent(p));
    await holdsSilenceFrom(server, held + 100);

    // Firefox's opens again: three open microphones for two slots. Its
    // first packet with a voice wakes the ticker.
    await setMuted(finch, false);
    await waitTickers(server, 1, 'three open microphones, two slots');
  });
});
