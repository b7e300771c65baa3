// Voice disguise: what another page receives from a disguised person is
// measurably lower in pitch than the same fake microphone undisguised
// (the dominant frequency of the fake microphone's tone, measured in the
// receiving page). On from the join form (the first packet is disguised)
// and switched during the session (no renegotiation).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { startServer } from './server.js';
import { join, hearsExactly, counters, WAIT_MS, openJoinForm } from './people.js';
import { DEFAULT_RATIO } from '../static/js/disguise.js';

const SESSION = 'e2e-disguise';
/** How far the measured ratio may be from the disguise's (the FFT bins are 2.9 Hz wide). */
const TOLERANCE = 0.06;

/**
 * The dominant frequency (Hz) of what the page receives from `pid`: the
 * median, over two seconds, of the strongest FFT bin of that slot's track
 * whenever a tone is there.
 */
function dominantFrom(listener, pid) {
  return listener.page.evaluate(async (id) => {
    const c = window.sanctuary.client;
    const i = c.slots.indexOf(id);
    const track = c.pc.getTransceivers().find((t) => t.mid === c.slotMids[i]).receiver.track;
    window.__ctx ??= new AudioContext();
    const ctx = window.__ctx;
    await ctx.resume();
    const src = ctx.createMediaStreamSource(new MediaStream([track]));
    const an = ctx.createAnalyser();
    an.fftSize = 16384;
    src.connect(an);
    const bins = new Float32Array(an.frequencyBinCount);
    const hz = ctx.sampleRate / an.fftSize;
    const seen = [];
    for (let k = 0; k < 40; k++) {
      await new Promise((r) => setTimeout(r, 50));
      an.getFloatFrequencyData(bins);
      let best = -Infinity;
      let at = 0;
      for (let b = Math.floor(60 / hz); b < 3000 / hz; b++) if (bins[b] > best) { best = bins[b]; at = b; }
      if (best > -60) seen.push(at * hz);
    }
    src.disconnect();
    seen.sort((a, b) => a - b);
    return { median: seen[Math.floor(seen.length / 2)] ?? 0, samples: seen.length };
  }, pid);
}

/** How many two-second windows a switch may take to reach the receiver. */
const WINDOWS = 5;

/**
 * Measures the tone from `pid` until its ratio to `baseHz` is within
 * TOLERANCE of `want`, at most WINDOWS times: a switch reaches the receiver
 * through the sender's pipeline and the receiver's jitter buffer, later on
 * a busy machine, and a window that straddles it gives a median of both
 * voices. Returns the last measurement, its ratio and the windows taken.
 */
async function settlesAt(listener, pid, baseHz, want) {
  let m;
  let ratio = 0;
  for (let w = 1; w <= WINDOWS; w++) {
    m = await dominantFrom(listener, pid);
    ratio = m.median / baseHz;
    if (m.samples >= 5 && Math.abs(ratio - want) <= TOLERANCE) return { ...m, ratio, windows: w };
  }
  return { ...m, ratio, windows: WINDOWS };
}

describe('voice disguise', { timeout: 240000 }, () => {
  let server;
  let browser;
  let host;
  let fox;
  let masked;
  let undisguisedHz = 0; // the fake microphone's tone as received without disguise

  before(async () => {
    server = await startServer('disguise');
    browser = await launch();
    host = await join(browser, server.url, { session: SESSION, alias: 'Host Heron', role: 'host' });
    fox = await join(browser, server.url, { session: SESSION, alias: 'Quiet Fox', role: 'participant' });
  });

  after(async () => {
    for (const p of [host, fox, masked]) if (p?.errors.length) console.log(`${p.alias} page errors:`, p.errors);
    await browser?.close();
    await server?.stop();
  });

  it('switched on during the session, the receiver hears the tone lower by the ratio, and back', async (t) => {
    await hearsExactly(host, [fox]);
    const off = await dominantFrom(host, fox.id);
    assert.ok(off.samples >= 5 && off.median > 0, `no tone measured: ${JSON.stringify(off)}`);
    undisguisedHz = off.median;
    await fox.page.getByRole('button', { name: 'Disguise my voice' }).click();
    await fox.page.getByRole('button', { name: 'Use my real voice' }).waitFor({ timeout: WAIT_MS });
    await hearsExactly(host, [fox]);
    const on = await settlesAt(host, fox.id, off.median, DEFAULT_RATIO);
    t.diagnostic(`undisguised ${off.median.toFixed(1)} Hz, disguised ${on.median.toFixed(1)} Hz: ratio ${on.ratio.toFixed(3)} (want ${DEFAULT_RATIO}), in window ${on.windows}`);
    assert.ok(Math.abs(on.ratio - DEFAULT_RATIO) <= TOLERANCE, `ratio ${on.ratio} after ${WINDOWS} windows`);
    const c = await counters(fox);
    assert.equal(c.offers, 1, 'no renegotiation');
    assert.equal(c.peerConnections, 1);
    await fox.page.getByRole('button', { name: 'Use my real voice' }).click();
    await fox.page.getByRole('button', { name: 'Disguise my voice' }).waitFor({ timeout: WAIT_MS });
    const back = await settlesAt(host, fox.id, off.median, 1);
    t.diagnostic(`back to ${back.median.toFixed(1)} Hz in window ${back.windows}`);
    assert.ok(Math.abs(back.ratio - 1) <= TOLERANCE, `back ${back.median} Hz after ${WINDOWS} windows`);
  });

  it('switched on before joining, the first packets already carry the disguised voice', async (t) => {
    const context = await browser.newContext();
    const { page, errors } = await openJoinForm(context, server.url, { session: SESSION, alias: 'Masked Owl' });
    await page.getByRole('button', { name: 'Choose and test my microphone' }).click();
    await page.getByLabel('Disguise my voice').check();
    await page.getByRole('button', { name: 'Hear my disguised voice' }).click();
    await page.getByRole('button', { name: 'Stop the preview' }).waitFor({ timeout: WAIT_MS });
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.waitForFunction(() => window.sanctuary?.client?.status === 'connected', null, { timeout: WAIT_MS });
    masked = { page, alias: 'Masked Owl', errors, id: await page.evaluate(() => window.sanctuary.client.participantId) };
    assert.equal(await page.locator('#disguise-button').getAttribute('aria-pressed'), 'true');
    // The track on the sender is the worklet's output, not the microphone.
    const sent = await page.evaluate(async () => {
      const s = window.sanctuary.client.pc.getSenders().find((x) => x.track);
      return { label: s.track.label, settings: s.track.getSettings().deviceId ?? '' };
    });
    assert.doesNotMatch(sent.label, /Fake/i, `the sender carries ${sent.label}`);
    await fox.page.getByRole('button', { name: 'Leave' }).click();
    await hearsExactly(host, [masked]);
    const got = await dominantFrom(host, masked.id);
    t.diagnostic(`disguised from the join on: ${got.median.toFixed(1)} Hz (undisguised ${undisguisedHz.toFixed(1)} Hz)`);
    assert.ok(got.samples >= 5, 'a tone is received');
    assert.ok(Math.abs(got.median / undisguisedHz - DEFAULT_RATIO) <= TOLERANCE, `ratio ${got.median / undisguisedHz}`);
    assert.deepEqual(errors, []);
  });
});
