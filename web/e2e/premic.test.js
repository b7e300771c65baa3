// Before joining: choose a microphone and see its level, with nothing
// heard and nothing sent; the join then sends the microphone chosen.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { launch } from './chromium.js';
import { startServer, ARTIFACTS } from './server.js';
import { join, hearsExactly, WAIT_MS, openJoinForm } from './people.js';

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
    const { page, errors } = await openJoinForm(context, server.url, { session: SESSION, alias: 'Quiet Fox' });
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

  it('a join while the microphones are still being listed leaves the join form closed and raises nothing', async () => {
    const context = await browser.newContext();
    // The page's device listing waits for the test's word: the join comes
    // in between, as it can when a person is quick or the listing slow.
    await context.addInitScript(() => {
      const md = navigator.mediaDevices;
      const real = md.enumerateDevices.bind(md);
      const gate = new Promise((resolve) => { window.releaseDevices = resolve; });
      window.devices = { asked: 0, listed: 0 };
      md.enumerateDevices = async () => {
        window.devices.asked++;
        await gate;
        const list = await real();
        window.devices.listed++;
        return list;
      };
    });
    const { page, errors } = await openJoinForm(context, server.url, { session: SESSION, alias: 'Quick Wren' });
    await page.getByRole('button', { name: 'Choose and test my microphone' }).click();
    await page.waitForFunction(() => window.devices.asked > 0, null, { timeout: WAIT_MS });
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.waitForFunction(() => window.sanctuary?.client?.status === 'connected', null, { timeout: WAIT_MS });
    await page.evaluate(() => window.releaseDevices());
    await page.waitForFunction(() => window.devices.listed > 0, null, { timeout: WAIT_MS });
    // The listing's caller has run to its end by the next task.
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)));
    const form = await page.evaluate(() => ({
      meter: document.getElementById('mic-meter').hidden,
      choice: document.getElementById('mic-choice').hidden,
    }));
    assert.deepEqual(form, { meter: true, choice: true }, 'the join took the microphone: its preview stays closed');
    assert.deepEqual(errors, []);
    await context.close();
  });
});
