// The speaker selection with real browsers: more people than slots, and the
// server's selection ticker, which re-ranks speakers by loudness every 50 ms
// only while a room has more open microphones than slots. Our page's mute
// button takes the track off the sender: the browser sends nothing, and the
// ticker must sleep. Other clients mute by the track (track.enabled =
// false) and keep sending, at the level of silence, and sparsely (the
// server asks for Opus DTX): the ticker must take that for silent too, and
// the server hold it back rather than forward it (source.holdSilence).
// Three people in Chromium and one in Firefox ESR, whose muting must do
// the same.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { launch as launchFirefox, join as joinFirefox } from './firefox.js';
import { startServer } from './server.js';
import { join, hearsExactly, assertNoNegotiationSinceJoin, WAIT_MS } from './people.js';

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

/**
 * Mutes or unmutes a person's microphone by its track alone, as clients
 * other than our page do: the sender keeps the track, which sends silence.
 */
async function setTrackEnabled(person, enabled) {
  await person.page.evaluate((on) => { window.sanctuary.client.upstream.sender.track.enabled = on; }, enabled);
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

  it('four open microphones for two slots keep the ticker running; two muted let it sleep, by the button or by the track; one reopened wakes it', async (t) => {
    const [heron, fox, otter, finch] = people;
    // Four fake microphones, two slots: loudness decides.
    await waitTickers(server, 1, 'four open microphones, two slots');

    // Two mute with the button, one in each browser: their pages take the
    // track off the sender, and the browsers send nothing while Heron's
    // sends 100 packets (two seconds). The ticker sleeps: two open
    // microphones for two slots.
    await setMuted(fox, true);
    await setMuted(finch, true);
    await waitTickers(server, 0, 'two open microphones, one Chromium and one Firefox muted by the button');
    const before = [await packetsSent(fox), await packetsSent(finch)];
    await sendsOnFrom(heron, (await packetsSent(heron)) + 100);
    const after = [await packetsSent(fox), await packetsSent(finch)];
    t.diagnostic(`muted by the button, while Heron sent 100 packets: Fox sent ${after[0] - before[0]}, Finch ${after[1] - before[1]}`);
    // A packet or two may have been on its way when the track came off.
    assert.ok(after[0] - before[0] <= 2 && after[1] - before[1] <= 2,
      `muted by the button, Fox and Finch sent ${after[0] - before[0]} and ${after[1] - before[1]} packets while Heron sent 100`);

    // Firefox's button opens it again: it sends, its first packet with a
    // voice wakes the ticker (three open microphones for two slots), and
    // Heron hears it again, beside Otter, on the same PeerConnection.
    await setMuted(finch, false);
    await sendsOnFrom(finch, after[1]);
    await waitTickers(server, 1, 'three open microphones, two slots');
    await hearsExactly(heron, [otter, finch]);
    for (const p of people) await assertNoNegotiationSinceJoin(p);

    // Now both mute by their tracks, as other clients do: they go on
    // sending at the level of silence, and the ticker sleeps again. If
    // either muted browser counted as loud, it would go on running.
    await setMuted(fox, false);
    await setTrackEnabled(fox, false);
    await setTrackEnabled(finch, false);
    await waitTickers(server, 0, 'two open microphones, one Chromium and one Firefox muted by the track');
    // What the ticker took for silence was packets at the level of
    // silence, not no packets; and few of them: the server's offer asks for
    // Opus DTX (usedtx=1), so a silent track sends a packet every few
    // hundred milliseconds. While Heron's open microphone sends 100
    // packets, each sends some, and fewer than half as many.
    const held = await metric(server, 'sanctuary_rtp_silence_held_total');
    const quiet = [await packetsSent(fox), await packetsSent(finch)];
    await sendsOnFrom(heron, (await packetsSent(heron)) + 100);
    const dtx = [(await packetsSent(fox)) - quiet[0], (await packetsSent(finch)) - quiet[1]];
    t.diagnostic(`muted by the track, while Heron sent 100 packets: Fox sent ${dtx[0]}, Finch ${dtx[1]}`);
    assert.ok(dtx.every((n) => n > 0 && n < 50),
      `muted by the track, Fox and Finch sent ${dtx[0]} and ${dtx[1]} packets while Heron sent 100: want some, under 50 (DTX)`);
    // The server holds that silence back rather than forward it, after the
    // first half second of each run.
    await holdsSilenceFrom(server, held + 5);

    // Firefox's track opens again: its first packet with a voice wakes the
    // ticker.
    await setTrackEnabled(finch, true);
    await waitTickers(server, 1, 'three open microphones, two slots, after the track');
  });
});
