// The chat panel in three Chromium pages: room chat shown as text only, the
// host's message to every room and private help threads standing out,
// unread counts, and nothing lost nor doubled across a websocket cut.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { launch } from './chromium.js';
import { startServer, ARTIFACTS } from './server.js';
import { join, WAIT_MS } from './people.js';

const SESSION = 'e2e-chat';
const HOSTILE = '<b>x</b><img src=x onerror="window.__xss=1">';

/** The texts of the chat list as shown, in order. */
function texts(p) {
  return p.page.locator('#chat-list li.msg .text').allInnerTexts();
}

/** Waits until the page's chat list shows a message with exactly this text. */
function shows(p, text) {
  return p.page.locator('#chat-list li.msg .text').filter({ hasText: text }).first().waitFor({ timeout: WAIT_MS });
}

async function send(p, text, { to } = {}) {
  if (to) await p.page.getByLabel('Send to').selectOption({ label: to });
  await p.page.getByLabel('Message', { exact: true }).fill(text);
  await p.page.getByLabel('Message', { exact: true }).press('Enter');
}

describe('chat', { timeout: 300000 }, () => {
  let server;
  let browser;
  let host;
  let ana;
  let ben;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer('chat');
    browser = await launch();
    host = await join(browser, server.url, { session: SESSION, alias: 'Host Heron', role: 'host' });
    ana = await join(browser, server.url, { session: SESSION, alias: 'Quiet Fox', role: 'participant' });
    ben = await join(browser, server.url, { session: SESSION, alias: 'Blue Otter', role: 'participant' });
  });

  after(async () => {
    for (const p of [host, ana, ben]) if (p?.errors.length) console.log(`${p.alias} page errors:`, p.errors);
    await browser?.close();
    await server?.stop();
  });

  it('room chat is plain text: markup shows as characters and runs nothing', async () => {
    await send(ana, HOSTILE);
    for (const p of [ben, host, ana]) {
      await shows(p, HOSTILE);
      assert.deepEqual(await texts(p), [HOSTILE]);
      assert.equal(await p.page.locator('#chat-list b, #chat-list img').count(), 0, `${p.alias}: markup was parsed`);
      assert.equal(await p.page.evaluate(() => window.__xss), undefined, `${p.alias}: a handler ran`);
    }
    assert.equal(await ana.page.locator('#chat-list li.msg.mine .from').innerText(), 'You');
    assert.equal(await ben.page.locator('#chat-list li.msg .from').innerText(), ana.alias);
  });

  it("the host's message to every room stands out", async () => {
    await send(host, 'Five minutes left in every room', { to: 'Every room (broadcast)' });
    for (const p of [ana, ben]) {
      const item = p.page.locator('#chat-list li.msg.broadcast').filter({ hasText: 'Five minutes left' });
      await item.waitFor({ timeout: WAIT_MS });
      assert.match(await item.locator('.badge').innerText(), /To every room/);
    }
  });

  it('a private help request reaches the hosts only, with an unread count, and the reply reaches only the asker', async () => {
    await ana.page.getByRole('tab', { name: 'Private to hosts' }).click();
    await send(ana, 'Can someone call me after the session?');
    // The host is on the room tab: the help tab counts it as unread.
    const helpTab = host.page.locator('#chat-tab-help');
    await host.page.waitForFunction(() => document.getElementById('chat-tab-help').dataset.unread === '1', null, { timeout: WAIT_MS });
    assert.match(await helpTab.innerText(), /Help requests\s*1/);
    await host.page.locator('#announce-urgent').filter({ hasText: 'Private message from Quiet Fox' }).waitFor({ timeout: WAIT_MS });
    // Keyboard: the tab list takes arrow keys.
    await host.page.locator('#chat-tab-room').focus();
    await host.page.keyboard.press('ArrowRight');
    assert.equal(await helpTab.getAttribute('aria-selected'), 'true');
    assert.equal(await helpTab.getAttribute('data-unread'), '0', 'seen once shown');
    const item = host.page.locator('#chat-list li.msg.help').filter({ hasText: 'call me after' });
    await item.waitFor({ timeout: WAIT_MS });
    assert.match(await item.locator('.badge').innerText(), /Help thread of Quiet Fox/);
    await item.getByRole('button', { name: 'Reply' }).click();
    await host.page.getByLabel('Message', { exact: true }).fill('Yes, right after.');
    await host.page.getByRole('button', { name: 'Send', exact: true }).click();
    await shows(ana, 'Yes, right after.');
    // Ben reads neither: his help tab is empty and counts nothing.
    await ben.page.getByRole('tab', { name: 'Private to hosts' }).click();
    assert.equal(await ben.page.locator('#chat-list li.msg').count(), 0);
    await ben.page.getByRole('tab', { name: 'Room chat' }).click();
    assert.deepEqual(await texts(ben), [HOSTILE, 'Five minutes left in every room']);
    await ana.page.screenshot({ path: pathJoin(ARTIFACTS, 'chat-participant.png'), fullPage: true });
  });

  it('counts unread room messages on the other tab', async () => {
    await ben.page.getByRole('tab', { name: 'Private to hosts' }).click();
    await ana.page.getByRole('tab', { name: 'Room chat' }).click();
    await send(ana, 'one');
    await send(ana, 'two');
    await ben.page.waitForFunction(() => document.getElementById('chat-tab-room').dataset.unread === '2', null, { timeout: WAIT_MS });
    await ben.page.getByRole('tab', { name: 'Room chat' }).click();
    assert.equal(await ben.page.locator('#chat-tab-room').getAttribute('data-unread'), '0');
  });

  it('a websocket cut loses nothing and doubles nothing, both ways', async () => {
    const bp = ben.page;
    const before = await texts(ben);
    // A long first retry, so messages are posted while Ben has no socket.
    await bp.evaluate(() => {
      window.sanctuary.client.opts.backoffMs = [3000];
      window.sanctuary.client.ws.close();
    });
    await bp.waitForFunction(() => window.sanctuary.client.status !== 'connected', null, { timeout: WAIT_MS });
    await host.page.getByRole('tab', { name: 'Room chat' }).click();
    await send(host, 'while you were away 1', { to: 'This room' });
    await send(host, 'while you were away 2');
    await shows(host, 'while you were away 2');
    // Ben writes while cut off: it waits, then goes once.
    await send(ben, 'written offline');
    await bp.locator('#chat-waiting').filter({ hasText: '1 message waits' }).waitFor({ timeout: WAIT_MS });
    await bp.waitForFunction(() => window.sanctuary.counters.resumes === 1, null, { timeout: WAIT_MS });
    await shows(ben, 'written offline');
    await shows(ana, 'written offline');
    await bp.locator('#chat-waiting').waitFor({ state: 'hidden', timeout: WAIT_MS });
    const want = [...before, 'while you were away 1', 'while you were away 2', 'written offline'];
    assert.deepEqual(await texts(ben), want);
    const anaTexts = await texts(ana);
    assert.equal(anaTexts.filter((t) => t === 'written offline').length, 1, 'posted once');
    assert.deepEqual(anaTexts.slice(-3), want.slice(-3));
    for (const p of [host, ana, ben]) assert.deepEqual(p.errors, [], `${p.alias}: page errors`);
  });

  it('a host removes a message: everyone sees it removed, and participants have no Delete', async () => {
    await ana.page.getByRole('tab', { name: 'Room chat' }).click();
    await send(ana, 'a message to take back');
    for (const p of [host, ben]) await shows(p, 'a message to take back');
    assert.equal(await ben.page.getByRole('button', { name: /^Delete the message/ }).count(), 0, 'a participant cannot delete');
    const item = host.page.locator('#chat-list li.msg').filter({ hasText: 'a message to take back' });
    await item.getByRole('button', { name: 'Delete the message from Quiet Fox' }).click();
    for (const p of [ana, ben, host]) {
      await p.page.locator('#chat-list li.msg .text.deleted').filter({ hasText: 'This message was removed.' }).waitFor({ timeout: WAIT_MS });
      assert.equal((await texts(p)).filter((t) => t === 'a message to take back').length, 0, `${p.alias} still shows it`);
    }
    for (const p of [host, ana, ben]) assert.deepEqual(p.errors, [], `${p.alias}: page errors`);
  });
});
