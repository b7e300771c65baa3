// The speaker selection with real browsers: more people than slots, and the
// server's selection ticker, which re-ranks speakers by loudness every 50 ms
// only while a room has more open microphones than slots. A muted browser
// keeps sending, at the level of silence (track.enabled = false): the ticker
// must take it for silent, sleep, and wake when microphones open again.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { startServer } from './server.js';
import { join, WAIT_MS } from './people.js';

const SESSION = 'e2e-selection';

/** The server's gauge of sessions whose ticker runs every 50 ms. */
async function tickersRunning(server) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('sanctuary_selection_tickers_running '));
  assert.ok(line, 'the server exports sanctuary_selection_tickers_running');
  return Number(line.split(' ')[1]);
}

/** Waits until the gauge is `want`, polling; bounded by WAIT_MS. */
async function waitTickers(server, want, what) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  while (Date.now() < deadline) {
    last = await tickersRunning(server);
    if (last === want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: sanctuary_selection_tickers_running stayed ${last}, want ${want}`);
}

async function setMuted(person, muted) {
  await person.page.getByRole('button', { name: muted ? 'Mute microphone' : 'Unmute microphone' }).click();
  await person.page.waitForFunction((m) => window.sanctuary.client.micEnabled === !m, muted, { timeout: WAIT_MS });
}

describe('speaker selection in browsers', { timeout: 420000 }, () => {
  let server;
  let browser;
  let people = [];

  before(async () => {
    server = await startServer('selection', ['-slots', '2']);
    browser = await launch();
    people.push(await join(browser, server.url, { session: SESSION, alias: 'Host Heron', role: 'host' }));
    for (const alias of ['Quiet Fox', 'Blue Otter', 'Green Finch']) {
      people.push(await join(browser, server.url, { session: SESSION, alias, role: 'participant' }));
    }
  });

  after(async () => {
    for (const p of people) if (p?.errors.length) console.log(`${p.alias} page errors:`, p.errors);
    await browser?.close();
    await server?.stop();
  });

  it('four open microphones for two slots keep the ticker running; muted ones let it sleep; opening them wakes it', async () => {
    const [, fox, otter, finch] = people;
    // Four fake microphones (a beep a second, loud most of the time as the
    // level fades between beeps), two slots: loudness decides.
    await waitTickers(server, 1, 'four open microphones, two slots');

    // Three mute. Their browsers go on sending, at the level of silence:
    // the ticker sleeps.
    for (const p of [fox, otter, finch]) await setMuted(p, true);
    await waitTickers(server, 0, 'one open microphone, three muted');

    // Two open again: three open microphones for two slots. Their first
    // packets with a voice wake the ticker.
    for (const p of [fox, otter]) await setMuted(p, false);
    await waitTickers(server, 1, 'three open microphones, two slots');
  });
});
