// My own "speaking" mark comes from my microphone's level. Chromium's
// statistics give it (media-source audioLevel); Firefox's do not, so the
// page measures the microphone with an AnalyserNode. Here: Chromium forced
// onto the page's own measurement (?level=mic) lights my mark from it, and
// Firefox uses that measurement since its statistics have no level.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { launch as launchFirefox, join as joinFirefox } from './firefox.js';
import { startServer } from './server.js';
import { join, WAIT_MS } from './people.js';

const SESSION = 'e2e-selflevel';

describe('my own speaking mark from the microphone', { timeout: 240000 }, () => {
  let server;
  let chromium;
  let firefox;

  before(async () => {
    server = await startServer('selflevel');
    chromium = await launch();
    firefox = await launchFirefox();
  });

  after(async () => {
    await chromium?.close();
    await firefox?.close();
    await server?.stop();
  });

  it('Chromium, measuring in the page: my mark lights from the analyser, and goes out when I mute', async (t) => {
    const me = await join(chromium, server.url, { session: SESSION, alias: 'Quiet Fox', role: 'participant', query: '?level=mic' });
    const row = me.page.locator(`#people li[data-pid="${me.id}"]`);
    await me.page.locator(`#people li.speaking[data-pid="${me.id}"]`).waitFor({ timeout: WAIT_MS });
    const lv = await me.page.evaluate(() => window.sanctuary.selfLevel());
    assert.equal(lv.source, 'mic');
    assert.equal(lv.contextState, 'running');
    t.diagnostic(`level ${lv.level.toFixed(3)}`);
    await me.page.getByRole('button', { name: 'Mute microphone' }).click();
    await me.page.waitForFunction((id) => {
      const li = document.querySelector(`#people li[data-pid="${id}"]`);
      return li && !li.classList.contains('speaking');
    }, me.id, { timeout: WAIT_MS });
    assert.equal(await row.getAttribute('class'), 'person');
    assert.deepEqual(me.errors, []);
  });

  it('Firefox: no level in its statistics, so the page measures the microphone', async (t) => {
    const me = await joinFirefox(firefox, server.url, { session: SESSION, alias: 'Gentle Puffin', role: 'participant' });
    const stats = await me.page.evaluate(() => window.sanctuary.client.slotStats());
    assert.equal(stats.self, null, 'Firefox statistics give no level for my microphone');
    const lv = await me.page.evaluate(() => window.sanctuary.selfLevel());
    assert.equal(lv.source, 'mic');
    // Headless Firefox has no sound device and keeps every AudioContext
    // suspended (BROWSER-TESTS.md), so the level itself is seen only in a
    // Firefox with a sound device; the analyser is the one Chromium ran above.
    t.diagnostic(`Firefox AudioContext: ${lv.contextState}, level ${lv.level}`);
    if (lv.contextState === 'running') {
      await me.page.waitForSelector(`#people li.speaking[data-pid="${me.id}"]`, { timeout: WAIT_MS });
    }
    assert.deepEqual(me.errors, []);
  });
});
