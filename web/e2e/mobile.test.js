// A phone-width screen (390 px): nothing overflows sideways, on the join
// form and on the room view with the host panel full of rooms and people.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { launch } from './chromium.js';
import { startServer, ARTIFACTS } from './server.js';
import { join, boardAction, WAIT_MS } from './people.js';

const WIDTH = 390;
const PHONE = { width: WIDTH, height: 844 };

/** Elements wider than the viewport or reaching past its right edge. */
function overflow(page) {
  return page.evaluate(() => {
    const vw = window.innerWidth;
    const offenders = [];
    for (const el of document.querySelectorAll('body *')) {
      if (el.closest('.skip-link, .sr-only, .audio-sink')) continue; // off-screen on purpose
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.width > vw + 0.5 || r.right > vw + 0.5) {
        offenders.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${el.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
      }
    }
    return { scrollWidth: document.documentElement.scrollWidth, offenders };
  });
}

describe('a 390 px wide screen', { timeout: 240000 }, () => {
  let server;
  let browser;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer('mobile');
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('the join form fits', async () => {
    const context = await browser.newContext({ viewport: PHONE });
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await page.locator('#dev-fields').waitFor({ state: 'visible', timeout: WAIT_MS });
    await page.locator('#token-details summary').click(); // open everything there is
    const o = await overflow(page);
    assert.ok(o.scrollWidth <= WIDTH, `scrollWidth ${o.scrollWidth}`);
    assert.deepEqual(o.offenders, []);
    await context.close();
  });

  it('the room view with the host panel fits', async () => {
    const host = await join(browser, server.url, {
      session: 'e2e-mobile', alias: 'Host With A Rather Long Chosen Name', role: 'host', viewport: PHONE,
    });
    const guest = await join(browser, server.url, { session: 'e2e-mobile', alias: 'Gentle Puffin', role: 'participant' });
    const page = host.page;
    await page.getByLabel('Number of rooms').fill('3');
    await page.getByLabel('Time limit in minutes (optional)').fill('10');
    await page.getByRole('button', { name: 'Create rooms' }).click();
    await page.locator('#board .room-card').nth(3).waitFor({ timeout: WAIT_MS });
    // Each room card shows its countdown; a participant moved there sees it too.
    assert.match(await page.locator('.room-card[aria-label="Room 1"] h4').innerText(), /\d+:\d\d/);
    await boardAction(host, guest.id, 'Move to Room 1');
    await guest.page.locator('#room-name').filter({ hasText: 'Room 1' }).waitFor({ timeout: WAIT_MS });
    assert.match(await guest.page.locator('#room-timer').innerText(), /^Room closes in \d+:\d\d$/);
    await page.getByLabel('Message to every room').fill('Welcome, everyone. Take your time.');
    await page.getByRole('button', { name: 'Send to all' }).click();
    await page.locator('#banner').filter({ hasText: 'Welcome' }).waitFor({ timeout: WAIT_MS });
    const o = await overflow(page);
    await page.screenshot({ path: pathJoin(ARTIFACTS, 'host-phone.png'), fullPage: true });
    assert.ok(o.scrollWidth <= WIDTH, `scrollWidth ${o.scrollWidth}`);
    assert.deepEqual(o.offenders, []);
    await host.context.close();
    await guest.context.close();
  });
});
