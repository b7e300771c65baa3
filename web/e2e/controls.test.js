// Each person's own controls, used as a person would (click and keyboard),
// with the effect checked on another page: stop hearing others, reactions,
// asking the hosts for help, answering a request to unmute, choosing a room
// when the host allows it and going back, and the host ending the session
// (with its statistics).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { startServer } from './server.js';
import { join, hearsExactly, hearsNobody, inRoom, boardAction, WAIT_MS } from './people.js';

const SESSION = 'e2e-controls';

describe('own controls', { timeout: 420000 }, () => {
  let server;
  let browser;
  let host;
  let ana;
  let ben;

  before(async () => {
    server = await startServer('controls');
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

  it('stop hearing others: my slots fall silent, the others see it, and back', async () => {
    await hearsExactly(ben, [host, ana]);
    await ben.page.getByRole('button', { name: 'Stop hearing others' }).click();
    await hearsNobody(ben);
    await ana.page.locator(`#people li[data-pid="${ben.id}"] .tag`).filter({ hasText: 'Not listening' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await ben.page.locator('#deafen-button').getAttribute('aria-pressed'), 'true');
    // The others still hear Ben: deafen is not mute.
    await hearsExactly(ana, [host, ben]);
    await ben.page.getByRole('button', { name: 'Hear others again' }).click();
    await hearsExactly(ben, [host, ana]);
    await ana.page.locator(`#people li[data-pid="${ben.id}"] .tag`).filter({ hasText: 'Not listening' }).waitFor({ state: 'detached', timeout: WAIT_MS });
  });

  it('a reaction sent with the keyboard shows next to me on the others\' pages', async () => {
    await ana.page.getByRole('button', { name: 'Send a heart' }).focus();
    await ana.page.keyboard.press('Enter');
    await ben.page.locator(`#people li[data-pid="${ana.id}"] .reacted`).filter({ hasText: '💛' }).waitFor({ timeout: WAIT_MS });
    await host.page.locator(`#board li[data-pid="${ana.id}"] .reacted`).filter({ hasText: '💛' }).waitFor({ timeout: WAIT_MS });
  });

  it('asking for help reaches the hosts with the room and the words, and no other participant', async () => {
    await ana.page.getByRole('button', { name: 'Ask for help' }).click();
    await ana.page.getByLabel('What is happening? (optional)').fill('I feel overwhelmed');
    await ana.page.getByRole('button', { name: 'Ask for help now' }).click();
    const banner = host.page.locator('#alert-banner');
    await banner.filter({ hasText: 'Quiet Fox in Main room needs help now: “I feel overwhelmed”' }).waitFor({ timeout: WAIT_MS });
    await ana.page.locator('#announce-urgent').filter({ hasText: 'The hosts were asked to help you' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await ben.page.locator('#alert-banner').isVisible(), false);
    await host.page.getByRole('button', { name: 'Dismiss' }).click();
    await banner.waitFor({ state: 'hidden', timeout: WAIT_MS });
  });

  it('a request to unmute is offered to a muted person, who unmutes with one click', async () => {
    await ben.page.getByRole('button', { name: 'Mute microphone' }).click();
    await boardAction(host, ben.id, 'Ask to unmute');
    await ben.page.locator('#unmute-banner').waitFor({ state: 'visible', timeout: WAIT_MS });
    await ben.page.getByRole('button', { name: 'Unmute now' }).click();
    assert.equal(await ben.page.evaluate(() => window.sanctuary.client.micEnabled), true);
    assert.equal(await ben.page.locator('#mute-button').getAttribute('aria-pressed'), 'false');
  });

  it('when the host lets people choose, a participant picks a room, and goes back to the main room', async () => {
    const hp = host.page;
    await hp.getByLabel('Number of rooms').fill('2');
    await hp.getByRole('button', { name: 'Create rooms' }).click();
    await hp.locator('#board .room-card').nth(2).waitFor({ timeout: WAIT_MS });
    assert.equal(await ana.page.locator('#choose-room').isVisible(), false, 'no choice before the host allows it');
    await hp.getByLabel('Let participants choose their room').check();
    const chooser = ana.page.getByLabel('Choose a breakout room');
    await chooser.waitFor({ timeout: WAIT_MS });
    // Keyboard: focus the list, pick the second room, Tab to the button, Enter.
    await chooser.focus();
    await chooser.selectOption({ index: 1 });
    await ana.page.keyboard.press('Tab');
    await ana.page.keyboard.press('Enter');
    await inRoom(ana, 'Room 2');
    await host.page.locator('.room-card[aria-label="Room 2"]').locator(`li[data-pid="${ana.id}"]`).waitFor({ timeout: WAIT_MS });
    await hearsNobody(ana);
    await ana.page.getByRole('button', { name: 'Back to the main room' }).click();
    await inRoom(ana, 'Main room');
    await hearsExactly(ana, [host, ben]);
    await hp.getByLabel('Let participants choose their room').uncheck();
    await ana.page.locator('#choose-room').waitFor({ state: 'hidden', timeout: WAIT_MS });
  });

  it('the host ends the session: everyone is told, and the host sees its statistics', async () => {
    await host.page.getByRole('button', { name: 'End the session for everyone' }).click();
    await host.page.locator('#confirm-dialog').getByRole('button', { name: 'End the session' }).click();
    for (const p of [ana, ben]) {
      await p.page.locator('#end-view').waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.match(await p.page.locator('#end-text').innerText(), /session has ended/);
      assert.equal(await p.page.locator('#end-stats').isVisible(), false, 'statistics are for the host');
    }
    const stats = host.page.locator('#end-stats');
    await stats.waitFor({ state: 'visible', timeout: WAIT_MS });
    const text = await stats.innerText();
    assert.match(text, /Most people at once\s+3/);
    assert.match(text, /Breakout rooms opened\s+2/);
    assert.match(text, /Moves between rooms\s+2/);
    for (const p of [host, ana, ben]) assert.deepEqual(p.errors, [], `${p.alias}: page errors`);
  });
});
