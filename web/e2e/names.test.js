// Two people who chose the same name are told apart: on the host's board,
// in the room list and in the chat, each carries a short suffix of its
// participant id; once one leaves, the other's name is plain again.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { startServer } from './server.js';
import { join, WAIT_MS } from './people.js';

const SESSION = 'e2e-names';

describe('identical names', { timeout: 180000 }, () => {
  let server;
  let browser;
  let host;
  let fox1;
  let fox2;

  before(async () => {
    server = await startServer('names');
    browser = await launch();
    host = await join(browser, server.url, { session: SESSION, alias: 'Host Heron', role: 'host' });
    fox1 = await join(browser, server.url, { session: SESSION, alias: 'Quiet Fox', role: 'participant' });
    fox2 = await join(browser, server.url, { session: SESSION, alias: 'Quiet Fox', role: 'participant' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows the two "Quiet Fox" with different suffixes everywhere', async () => {
    const want1 = `Quiet Fox · ${fox1.id.slice(-4)}`;
    const want2 = `Quiet Fox · ${fox2.id.slice(-4)}`;
    assert.notEqual(want1, want2);
    const boardName = (pid) => host.page.locator(`#board li[data-pid="${pid}"] .name`);
    await boardName(fox2.id).filter({ hasText: want2 }).waitFor({ timeout: WAIT_MS });
    assert.equal(await boardName(fox1.id).innerText(), want1);
    assert.equal(await fox1.page.locator(`#people li[data-pid="${fox2.id}"] .name`).innerText(), want2);
    assert.equal(await fox1.page.locator(`#people li[data-pid="${fox1.id}"] .name`).innerText(), `${want1} (you)`);
    await fox2.page.getByLabel('Message', { exact: true }).fill('hello');
    await fox2.page.getByLabel('Message', { exact: true }).press('Enter');
    await host.page.locator('#chat-list li.msg .from').filter({ hasText: want2 }).waitFor({ timeout: WAIT_MS });
    await fox2.page.getByRole('button', { name: 'Leave' }).click();
    await boardName(fox1.id).filter({ hasText: /^Quiet Fox$/ }).waitFor({ timeout: WAIT_MS });
  });
});
