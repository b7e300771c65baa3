// The new controls in Firefox ESR (puppeteer-core over WebDriver BiDi),
// with a Chromium host: chat shown as text, a private help thread, a
// reaction, asking for help, and stop hearing others, each checked on the
// other browser's page.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { launch as launchFirefox, join as joinFirefox } from './firefox.js';
import { startServer } from './server.js';
import { join, hearsExactly, hearsNobody, WAIT_MS } from './people.js';

const SESSION = 'e2e-firefox-controls';
const HOSTILE = '<img src=x onerror="window.__xss=1"><b>bold?</b>';

describe('controls in Firefox', { timeout: 300000 }, () => {
  let server;
  let chromium;
  let firefox;
  let host;
  let fox;

  before(async () => {
    server = await startServer('firefox-controls');
    chromium = await launch();
    firefox = await launchFirefox();
    host = await join(chromium, server.url, { session: SESSION, alias: 'Host Heron', role: 'host' });
    fox = await joinFirefox(firefox, server.url, { session: SESSION, alias: 'Fire Fox', role: 'participant' });
  });

  after(async () => {
    for (const p of [host, fox]) if (p?.errors.length) console.log(`${p.alias} page errors:`, p.errors);
    await chromium?.close();
    await firefox?.close();
    await server?.stop();
  });

  it('chat both ways, as text only; a private thread to the hosts', async () => {
    const fp = fox.page;
    await fp.locator('#chat-text').fill(HOSTILE);
    await fp.keyboard.press('Enter');
    await host.page.locator('#chat-list li.msg .text').filter({ hasText: HOSTILE }).waitFor({ timeout: WAIT_MS });
    await host.page.getByLabel('Message', { exact: true }).fill('Welcome, Fire Fox');
    await host.page.getByLabel('Message', { exact: true }).press('Enter');
    await fp.waitForFunction(() => [...document.querySelectorAll('#chat-list li.msg .text')].map((e) => e.textContent)
      .join('|') === '<img src=x onerror="window.__xss=1"><b>bold?</b>|Welcome, Fire Fox');
    assert.equal(await fp.evaluate(() => document.querySelectorAll('#chat-list img, #chat-list b').length), 0);
    assert.equal(await fp.evaluate(() => window.__xss), undefined);
    await fp.locator('#chat-tab-help').click();
    await fp.locator('#chat-text').fill('Could someone check in with me?');
    await fp.keyboard.press('Enter');
    await host.page.waitForFunction(() => document.getElementById('chat-tab-help').dataset.unread === '1', null, { timeout: WAIT_MS });
  });

  it('a reaction and a help request reach the host', async () => {
    const fp = fox.page;
    await fp.locator('button[aria-label="Send applause"]').click();
    await host.page.locator(`#board li[data-pid="${fox.id}"] .reacted`).filter({ hasText: '👏' }).waitFor({ timeout: WAIT_MS });
    await fp.locator('#help-button').click();
    await fp.locator('#help-text').fill('panic');
    await fp.locator('#help-send').click();
    await host.page.locator('#alert-banner').filter({ hasText: 'Fire Fox in Main room needs help now: “panic”' }).waitFor({ timeout: WAIT_MS });
  });

  it('stop hearing others silences Firefox\'s slots, and back', async () => {
    await hearsExactly(fox, [host]);
    await fox.page.locator('#deafen-button').click();
    await hearsNobody(fox);
    await host.page.locator(`#board li[data-pid="${fox.id}"] .tag`).filter({ hasText: 'Not listening' }).waitFor({ timeout: WAIT_MS });
    await fox.page.locator('#deafen-button').click();
    await hearsExactly(fox, [host]);
    assert.deepEqual(fox.errors, []);
    assert.deepEqual(host.errors, []);
  });
});
