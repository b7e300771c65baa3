// Before joining: choose a microphone and see its level, with nothing
// heard and nothing sent; the join then sends the microphone chosen.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { launch } from './chromium.js';
import { startServer, ARTIFACTS } from './server.js';
import { join, hearsExactly, WAIT_MS } from './people.js';

const SESSION = 'e2e-premic';

describe('choosing a microphone before joining', { timeout: 180000 }, () => {
  let server;
  let browser;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer('premic');
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('lists the microphones, shows the level, plays and sends nothing, then joins with the one chosen', async (t) => {
    const host = await join(browser, server.url, { session: SESSION, alias: 'Host Heron', role: 'host' });
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}/`);
    await page.locator('#dev-fields').waitFor({ state: 'visible', timeout: WAIT_MS });
    await page.getByLabel('Session', { exact: true }).fill(SESSION);
    await page.getByLabel('Name others see').fill('Quiet Fox');
    await page.getByRole('button', { name: 'Choose and test my microphone' }).click();
    const select = page.getByLabel('Microphone', { exact: true });
    await select.waitFor({ timeout: WAIT_MS });
    const options = await select.locator('option').evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent })));
    t.diagnostic(`microphones: ${options.map((o) => o.label).join(', ')}`);
    assert.ok(options.length >= 1);
    const chosen = options[options.length - 1];
    await select.selectOption(chosen.value);
    await page.waitForFunction(() => document.getElementById('mic-meter').value > 0.05, null, { timeout: WAIT_MS });
    await page.locator('#mic-status').filter({ hasText: 'Nobody hears you until you join.' }).waitFor({ timeout: WAIT_MS });
    await page.screenshot({ path: pathJoin(ARTIFACTS, 'join-microphone-phone.png'), fullPage: true });
    // Nothing heard and nothing sent before the join: no audio element, no join message (the
    // socket the page opens early carries nothing before it), no PeerConnection.
    assert.equal(await page.locator('audio').count(), 0);
    assert.deepEqual(await page.evaluate(() => ({ joins: window.sanctuary.counters.joins, pcs: window.sanctuary.counters.peerConnections })), { joins: 0, pcs: 0 });

    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.waitForFunction(() => window.sanctuary?.client?.status === 'connected', null, { timeout: WAIT_MS });
    const sent = await page.evaluate(async () => {
      const c = window.sanctuary.client;
      const track = await c.mic;
      const sender = c.pc.getSenders().find((s) => s.track);
      return { device: track.getSettings().deviceId, same: sender?.track === track, live: track.readyState };
    });
    assert.equal(sent.device, chosen.value, 'the join sends the microphone chosen');
    assert.equal(sent.same, true);
    assert.equal(sent.live, 'live');
    const me = { id: await page.evaluate(() => window.sanctuary.client.participantId), alias: 'Quiet Fox' };
    await hearsExactly(host, [me]);
    assert.deepEqual(errors, []);
    await context.close();
  });
});
