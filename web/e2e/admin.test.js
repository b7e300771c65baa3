// The operator's view at /admin in Chromium: sign in with the admin token,
// see a live session's counts and packet rates, see an alert once a participant raises it,
// end the session. Every wait is for a condition, bounded by WAIT_MS.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { startServer } from './server.js';
import { join, WAIT_MS } from './people.js';

const SESSION = 'e2e-admin';
const ADMIN_TOKEN = 'e2e-operator-token';

describe('operator view', { timeout: 240000 }, () => {
  let server;
  let browser;
  let ana;
  let op;

  before(async () => {
    server = await startServer('admin', ['-admin-token', ADMIN_TOKEN]);
    browser = await launch();
    ana = await join(browser, server.url, { session: SESSION, alias: 'Quiet Fox', role: 'participant' });
    const context = await browser.newContext();
    op = await context.newPage();
    op.errors = [];
    op.on('pageerror', (e) => op.errors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const row = () => op.locator(`#sessions tr[data-session="${SESSION}"]`);

  it('refuses a wrong token, then shows the live session with its counts', async () => {
    await op.goto(`${server.url}/admin/`);
    await op.getByLabel('Admin token').fill('not-the-token');
    await op.getByRole('button', { name: 'Sign in' }).click();
    await op.locator('#login-error').filter({ hasText: 'refused' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await op.evaluate(() => sessionStorage.getItem('sanctuary.adminToken')), null);

    await op.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await op.getByRole('button', { name: 'Sign in' }).click();
    await row().locator('td.participants').filter({ hasText: /^1$/ }).waitFor({ timeout: WAIT_MS });
    await row().locator('.rooms li').filter({ hasText: 'Main room: 1' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await op.locator('#srv-participants').textContent(), '1');
    // Her microphone's packets reach the session's router: a rate in (out
    // is 0, nobody else is there to hear her).
    await row().locator('td.pps').filter({ hasText: /^[1-9][\d,]* \/ 0$/ }).waitFor({ timeout: WAIT_MS });
    assert.equal(await op.evaluate(() => document.cookie), '', 'no cookie');
    const html = await op.content();
    assert.ok(!html.includes('dev-'), 'no user id on the page'); // dev tokens' user ids start with dev-
  });

  it('shows an alert with its room after a participant raises it', async () => {
    assert.equal(await op.locator('#alerts li').count(), 0);
    await ana.page.evaluate(() => window.sanctuary.client.command('alert', { message: 'I need someone' }));
    const item = op.locator('#alerts li').filter({ hasText: 'Quiet Fox' });
    await item.filter({ hasText: 'in Main room' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await item.getAttribute('data-session'), SESSION);
    assert.equal(await op.locator('#alert-count').textContent(), '1');
    assert.equal(await row().locator('td.alerts').textContent(), '1');
    assert.ok(!(await op.content()).includes('I need someone'), 'the alert text is not shown');
    await item.getByRole('button', { name: 'Dismiss' }).click();
    await op.locator('#alerts li').first().waitFor({ state: 'detached', timeout: WAIT_MS });
  });

  it('ends the session for everyone', async () => {
    op.once('dialog', (d) => d.accept());
    await row().getByRole('button', { name: 'End session' }).click();
    await row().waitFor({ state: 'detached', timeout: WAIT_MS });
    await ana.page.waitForFunction(() => window.sanctuary?.client?.status !== 'connected', null, { timeout: WAIT_MS });
    assert.deepEqual(op.errors, []);
  });
});
