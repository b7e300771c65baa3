// The host's moderation tools through the UI: hands, mute for everyone,
// a message to every room, remove; and what each person then sees and hears.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { startServer } from './server.js';
import { join, hearsExactly, counters, boardAction, WAIT_MS } from './people.js';

const SESSION = 'e2e-moderation';

describe('moderation from the host panel', { timeout: 360000 }, () => {
  let server;
  let browser;
  let host;
  let ana;
  let ben;

  before(async () => {
    server = await startServer('moderation');
    browser = await launch();
    host = await join(browser, server.url, { session: SESSION, alias: 'Host Heron', role: 'host' });
    ana = await join(browser, server.url, { session: SESSION, alias: 'Quiet Fox', role: 'participant' });
    ben = await join(browser, server.url, { session: SESSION, alias: 'Blue Otter', role: 'participant' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const boardRow = (pid) => host.page.locator(`#board li[data-pid="${pid}"]`);

  it('a raised hand shows to the host, who can lower it', async () => {
    await ben.page.getByRole('button', { name: 'Raise hand' }).click();
    await ben.page.getByRole('button', { name: 'Lower hand' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await ben.page.locator('#hand-button').getAttribute('aria-pressed'), 'true');
    await boardRow(ben.id).locator('.tag.hand').waitFor({ timeout: WAIT_MS });
    await ana.page.locator(`#people li[data-pid="${ben.id}"] .tag.hand`).waitFor({ timeout: WAIT_MS });
    await boardAction(host, ben.id, 'Lower hand');
    await ben.page.getByRole('button', { name: 'Raise hand' }).waitFor({ timeout: WAIT_MS });
    await boardRow(ben.id).locator('.tag.hand').waitFor({ state: 'detached', timeout: WAIT_MS });
  });

  it('mute for everyone takes a person out of every audience, and back', async () => {
    await boardAction(host, ben.id, 'Mute for everyone');
    await ben.page.locator(`#people li[data-pid="${ben.id}"] .tag.muted`).waitFor({ timeout: WAIT_MS });
    await Promise.all([hearsExactly(host, [ana]), hearsExactly(ana, [host]), hearsExactly(ben, [host, ana])]);
    await boardAction(host, ben.id, 'Unmute for everyone');
    await ben.page.locator(`#people li[data-pid="${ben.id}"] .tag.muted`).waitFor({ state: 'detached', timeout: WAIT_MS });
    await Promise.all([hearsExactly(host, [ana, ben]), hearsExactly(ana, [host, ben])]);
  });

  it('a message reaches everyone as a banner', async () => {
    await host.page.getByLabel('Message to every room').fill('Let us take a breath together.');
    await host.page.getByRole('button', { name: 'Send to all' }).click();
    for (const p of [ana, ben]) {
      await p.page.locator('#banner').filter({ hasText: 'Let us take a breath together.' }).waitFor({ timeout: WAIT_MS });
    }
  });

  it('a removed participant is told so in plain words and does not come back', async () => {
    const joinsBefore = (await counters(ana)).joins;
    await boardAction(host, ana.id, 'Remove from the session');
    const dialog = host.page.locator('#confirm-dialog');
    await dialog.waitFor({ state: 'visible', timeout: WAIT_MS });
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await ana.page.locator('#end-view').waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.match(await ana.page.locator('#end-text').innerText(), /host removed you/i);
    await boardRow(ana.id).waitFor({ state: 'detached', timeout: WAIT_MS });
    await hearsExactly(host, [ben]);
    const c = await counters(ana);
    assert.equal(c.joins, joinsBefore, `no reconnect after removal; drops: ${JSON.stringify(c.drops)}`);
  });

  it('closing all rooms is counted by the server: one deadline everywhere, cancel, and it happens without the host', async () => {
    const hp = host.page;
    const bp = ben.page;
    await hp.getByLabel('Number of rooms').fill('1');
    await hp.getByRole('button', { name: 'Create rooms' }).click();
    await hp.locator('#board .room-card').nth(1).waitFor({ timeout: WAIT_MS });
    // Assign everyone evenly: the participant goes to the one room, the host stays.
    await hp.getByRole('button', { name: 'Assign everyone' }).click();
    await bp.locator('#room-name').filter({ hasText: 'Room 1' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await hp.locator('#room-name').innerText(), 'Main room');

    await hp.getByLabel('Close all rooms').selectOption('30');
    await hp.getByRole('button', { name: 'Close all rooms' }).click();
    await bp.locator('#closing-banner').filter({ hasText: /All breakout rooms close in 0:[0-3]\d/ }).waitFor({ timeout: WAIT_MS });
    await hp.locator('#close-countdown-text').filter({ hasText: /Closing all rooms in 0:[0-3]\d/ }).waitFor({ timeout: WAIT_MS });
    // One deadline, the server's: the host's and the participant's are the
    // same number, and the participant's room timer and banner show it alike.
    const deadline = (page) => page.evaluate(() => window.sanctuary.client.state.closingAt);
    const hostDeadline = await deadline(hp);
    assert.ok(hostDeadline > Date.now(), `deadline ${hostDeadline}`);
    assert.equal(await deadline(bp), hostDeadline);
    await bp.waitForFunction(() => {
      const clock = (id) => document.getElementById(id).textContent.match(/\d+:\d\d/)?.[0];
      return !document.getElementById('room-timer').hidden && clock('room-timer') === clock('closing-banner');
    }, null, { timeout: WAIT_MS });

    await hp.locator('#close-countdown').getByRole('button', { name: 'Cancel' }).click();
    await bp.locator('#closing-banner').waitFor({ state: 'hidden', timeout: WAIT_MS });
    await hp.locator('#close-countdown').waitFor({ state: 'hidden', timeout: WAIT_MS });
    assert.equal(await bp.locator('#room-timer').isVisible(), false, 'the room has no timer of its own');
    assert.equal(await hp.locator('#board .room-card').count(), 2, 'the room is still open');
    assert.equal(await bp.locator('#room-name').innerText(), 'Room 1');

    // A short countdown, and the host's page goes away: the server closes
    // the room at the deadline all the same.
    await hp.evaluate(() => window.sanctuary.client.command('breakouts.close', { delaySec: 2 }));
    await host.context.close();
    await bp.locator('#room-name').filter({ hasText: 'Main room' }).waitFor({ timeout: WAIT_MS });
    await bp.locator('#closing-banner').waitFor({ state: 'hidden', timeout: WAIT_MS });
    assert.equal(await deadline(bp), 0);
  });
});
