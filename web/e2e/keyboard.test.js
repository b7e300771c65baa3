// The keyboard alone is enough: join, then reach every control in order.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { startServer } from './server.js';
import { WAIT_MS } from './people.js';

/** The accessible name of the focused element (label, aria-label or text). */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const label = el.labels?.[0]?.textContent ?? el.getAttribute('aria-label') ?? el.textContent;
    return `${el.tagName.toLowerCase()}:${label.trim()}`;
  });
}

describe('keyboard only', { timeout: 180000 }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer('keyboard');
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('joins and reaches the controls with Tab, in reading order', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}/`);
    await page.locator('#dev-fields').waitFor({ state: 'visible', timeout: WAIT_MS });
    const order = [];
    for (let i = 0; i < 9; i++) {
      await page.keyboard.press('Tab');
      order.push(await focused(page));
    }
    assert.deepEqual(order, [
      'a:Skip to content', 'input:Session', 'input:Name others see', 'button:Suggest another',
      'button:Choose and test my microphone', 'input:Disguise my voice', 'summary:I have an invitation token', 'select:Join as', 'button:Join',
    ]);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => window.sanctuary?.client?.status === 'connected', null, { timeout: WAIT_MS });
    assert.equal(await focused(page), 'h1:Main room', 'focus moves to the room heading');
    const controls = [];
    for (let i = 0; i < 7; i++) {
      await page.keyboard.press('Tab');
      controls.push(await focused(page));
    }
    assert.deepEqual(controls, ['button:Mute microphone', 'button:Raise hand', 'button:Stop hearing others',
      'button:Ask for help', 'button:Disguise my voice', 'button:Leave', 'button:Send a heart']);
    for (let i = 0; i < 6; i++) await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter'); // mute
    assert.equal(await page.locator('#mute-button').getAttribute('aria-pressed'), 'true');
    assert.equal(await page.evaluate(() => window.sanctuary.client.micEnabled), false);
    await page.locator('#announce-polite').filter({ hasText: 'Your microphone is muted.' }).waitFor({ timeout: WAIT_MS });
  });
});
