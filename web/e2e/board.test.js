// The host's board with 50 people (pion bots) and 10 rooms, on a
// 1280×800 screen and on a phone: rooms planned with names, a capacity and
// a time limit, people placed by keyboard and by menu, then opened in one
// go; assign at random; search; move by keyboard; close one room; make
// someone a moderator, whose phone then shows the same board. Measures the
// page height and the tab stops before "Close all rooms".

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { launch } from './chromium.js';
import { startServer, ARTIFACTS } from './server.js';
import { join, inRoom, boardAction, WAIT_MS } from './people.js';
import { newSecret, startBot } from './bots.js';

const SESSION = 'e2e-board';
const BOTS = 50;
const ROOMS = ['Grief', 'Anxiety', 'Sleep', 'Work', 'Family', 'Loss', 'Hope', 'Calm', 'Trust', 'Rest'];
const CAPACITY = 6;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** Where each participant is, by alias, from the page's state. */
function roomsByAlias(p) {
  return p.page.evaluate(() => {
    const st = window.sanctuary.client.state;
    return Object.fromEntries([...st.participants.values()].map((x) => [st.label(x.id), st.roomName(x.room)]));
  });
}

/** The tab stops from the top of the page before "Close all rooms" (which is stop count + 1). */
async function tabStopsBeforeCloseAll(page) {
  // Start where a keyboard user starts: the first stop, the skip link.
  await page.evaluate(() => document.querySelector('.skip-link').focus());
  const seen = ['a:Skip to content'];
  for (let n = 2; n <= 300; n++) {
    await page.keyboard.press('Tab');
    const [name, label] = await page.evaluate(() => {
      const el = document.activeElement;
      return [el?.textContent?.trim(), `${el?.tagName.toLowerCase()}:${el?.labels?.[0]?.textContent ?? el?.getAttribute('aria-label') ?? el?.textContent?.trim().slice(0, 20)}`];
    });
    if (name === 'Close all rooms') return { count: n - 1, seen };
    seen.push(label);
  }
  throw new Error('"Close all rooms" never took focus');
}

/** Page height and width (px) and elements past the right edge. */
function measure(page) {
  return page.evaluate(() => {
    const vw = window.innerWidth;
    const offenders = [];
    for (const el of document.querySelectorAll('body *')) {
      if (el.closest('.skip-link, .sr-only, .audio-sink')) continue;
      const r = el.getBoundingClientRect();
      if ((r.width || r.height) && r.right > vw + 0.5) offenders.push(`${el.tagName.toLowerCase()}.${el.className}`);
    }
    return { height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth, offenders };
  });
}

describe('the host board with 50 people and 10 rooms', { timeout: 600000 }, () => {
  const secret = newSecret();
  let server;
  let browser;
  let host;
  let ana;
  let bots;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer('board', ['-jwt-secret', secret]);
    browser = await launch();
    host = await join(browser, server.url, { session: SESSION, alias: 'Host Heron', role: 'host', viewport: DESKTOP });
    ana = await join(browser, server.url, { session: SESSION, alias: 'Quiet Fox', role: 'participant', viewport: PHONE });
    bots = startBot(server.url, { secret, session: SESSION, durationS: 400, bots: BOTS, speakers: 2 });
    await host.page.waitForFunction((n) => {
      const ps = [...window.sanctuary.client.state.participants.values()];
      return ps.length === n && ps.every((p) => p.state === 'connected');
    }, BOTS + 2, { timeout: 120000, polling: 500 });
  });

  after(async () => {
    for (const p of [host, ana]) if (p?.errors.length) console.log(`${p.alias} page errors:`, p.errors);
    bots?.stop();
    await bots?.done.catch(() => {});
    await browser?.close();
    await server?.stop();
  });

  let second; // the second person placed by keyboard
  it('plans 10 named rooms, places people by keyboard and menu, opens them in one go', async (t) => {
    const hp = host.page;
    await hp.getByLabel('Room names (optional, comma-separated)').fill(ROOMS.join(', '));
    await hp.getByLabel('People per room (optional)').fill(String(CAPACITY));
    await hp.getByLabel('Time limit in minutes (optional)').fill('20');
    await hp.getByRole('button', { name: 'Plan first, open later' }).click();
    await hp.locator('#board .room-card.planned').nth(ROOMS.length - 1).waitFor({ timeout: WAIT_MS });
    assert.equal(await hp.locator('#board .room-card').count(), ROOMS.length + 1);

    // Keyboard only: search, Tab onto the board, Enter opens the menu, arrows pick, Enter moves.
    await hp.getByLabel('Find a person').fill('bot 4');
    assert.equal(await hp.locator('#board li.member:not([hidden])').count(), 11, 'bot 4 and bot 40..49');
    await hp.getByLabel('Find a person').press('ArrowDown');
    assert.equal(await hp.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Actions for bot 4');
    await hp.keyboard.press('Enter');
    await hp.locator('[role="menu"]').waitFor({ timeout: WAIT_MS });
    assert.equal(await hp.evaluate(() => document.activeElement.textContent), 'Move to Grief');
    await hp.keyboard.press('Enter');
    await hp.locator('.room-card[aria-label="Grief"] li .name').filter({ hasText: /^bot 4$/ }).waitFor({ timeout: WAIT_MS });
    // Focus stays on bot 4, now last on the board (in Grief); Home goes to
    // the first shown (one of bot 40..49, in join order); its menu, two down: Sleep.
    assert.equal(await hp.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Actions for bot 4');
    await hp.keyboard.press('Home');
    second = (await hp.evaluate(() => document.activeElement.getAttribute('aria-label'))).replace('Actions for ', '');
    assert.match(second, /^bot 4\d$/);
    await hp.keyboard.press('Enter');
    await hp.keyboard.press('ArrowDown');
    await hp.keyboard.press('ArrowDown');
    assert.equal(await hp.evaluate(() => document.activeElement.textContent), 'Move to Sleep');
    await hp.keyboard.press('Enter');
    await hp.getByLabel('Find a person').fill('');
    await boardAction(host, ana.id, 'Move to Hope');
    await hp.locator('#plan-text').filter({ hasText: '10 rooms planned, 3 people placed.' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await ana.page.locator('#room-name').innerText(), 'Main room', 'a plan moves nobody yet');

    await hp.getByRole('button', { name: 'Open the planned rooms' }).click();
    await inRoom(ana, 'Hope');
    await hp.waitForFunction(() => window.sanctuary.client.state.rooms.length === 10, null, { timeout: WAIT_MS });
    const where = await roomsByAlias(host);
    assert.equal(where['bot 4'], 'Grief');
    assert.equal(where[second], 'Sleep');
    assert.equal(where['Quiet Fox'], 'Hope');
    assert.equal(await hp.locator('#board .room-card.planned').count(), 0);
    assert.match(await hp.locator('.room-card[aria-label="Grief"] h4').innerText(), /1 of 6.*\d+:\d\d/s);
    assert.equal(await hp.locator('.room-card[aria-label="Grief"] .count').first().getAttribute('aria-label'), '1 of 6 people');
    t.diagnostic('opened 10 planned rooms with 3 people placed');
  });

  it('assigns everyone at random within the capacities; counts and timers per room', async () => {
    const hp = host.page;
    await hp.getByLabel('Assign', { exact: true }).selectOption('random');
    await hp.getByRole('button', { name: 'Assign everyone' }).click();
    await hp.waitForFunction(() => window.sanctuary.client.state.members('main').length === 2, null, { timeout: WAIT_MS });
    const sizes = await hp.evaluate(() => window.sanctuary.client.state.rooms.map((r) => window.sanctuary.client.state.members(r.id).length));
    assert.equal(sizes.reduce((a, b) => a + b, 0), BOTS, 'the 49 participant bots and Quiet Fox');
    assert.ok(sizes.every((n) => n <= CAPACITY), `sizes ${sizes}`);
    for (const [i, name] of ROOMS.entries()) {
      const head = await hp.locator(`.room-card[aria-label="${name}"] h4`).innerText();
      assert.match(head, new RegExp(`${sizes[i]} of ${CAPACITY}`));
      assert.match(head, /1\d:\d\d|20:00/, `${name} shows its timer`);
    }
  });

  it('keeps a group together: two people in different rooms, grouped from their menus, end up in one room', async () => {
    const hp = host.page;
    // Two bots now in different rooms.
    const [a, b] = await hp.evaluate(() => {
      const st = window.sanctuary.client.state;
      const bots = [...st.participants.values()].filter((p) => p.alias.startsWith('bot ') && p.room !== 'main');
      const first = bots[0];
      const second = bots.find((p) => p.room !== first.room);
      return [first.id, second.id];
    });
    await boardAction(host, a, 'Start a new group');
    await boardAction(host, b, 'Add to group 1');
    await hp.locator(`#board li[data-pid="${b}"]`).filter({ hasText: 'Group 1' }).waitFor({ timeout: WAIT_MS });
    await hp.getByLabel('Assign', { exact: true }).selectOption('groups');
    await hp.getByRole('button', { name: 'Assign everyone' }).click();
    await hp.waitForFunction(([x, y]) => {
      const st = window.sanctuary.client.state;
      return st.participant(x).room === st.participant(y).room;
    }, [a, b], { timeout: WAIT_MS });
    await boardAction(host, a, 'Remove from group 1');
    await boardAction(host, b, 'Remove from group 1');
    await hp.getByLabel('Assign', { exact: true }).selectOption('balanced');
  });

  it('moves someone between open rooms by keyboard', async () => {
    const hp = host.page;
    // A room with space that bot 7 is not in (a full one would answer room_full).
    const target = await hp.evaluate((cap) => {
      const st = window.sanctuary.client.state;
      const bot = [...st.participants.values()].find((p) => p.alias === 'bot 7');
      return st.rooms.find((r) => r.id !== bot.room && st.members(r.id).length < cap).name;
    }, CAPACITY);
    await hp.getByLabel('Find a person').fill('bot 7');
    await hp.getByLabel('Find a person').press('ArrowDown');
    assert.equal(await hp.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Actions for bot 7');
    await hp.keyboard.press('Enter');
    for (let i = 0; i < 12; i++) {
      if (await hp.evaluate(() => document.activeElement.textContent) === `Move to ${target}`) break;
      await hp.keyboard.press('ArrowDown');
    }
    await hp.keyboard.press('Enter');
    await hp.waitForFunction((room) => {
      const st = window.sanctuary.client.state;
      const bot = [...st.participants.values()].find((p) => p.alias === 'bot 7');
      return st.roomName(bot.room) === room;
    }, target, { timeout: WAIT_MS });
    await hp.getByLabel('Find a person').fill('');
  });

  it('the host visits a room from their own menu ("Go to") and comes back with "Back to the main room"', async () => {
    const hp = host.page;
    const room = await hp.evaluate((cap) => {
      const st = window.sanctuary.client.state;
      return st.rooms.find((r) => st.members(r.id).length < cap).name;
    }, CAPACITY);
    await boardAction(host, host.id, `Go to ${room}`);
    await inRoom(host, room);
    await hp.getByRole('button', { name: 'Back to the main room' }).click();
    await inRoom(host, 'Main room');
  });

  it('measures the board at 1280×800', async (t) => {
    const hp = host.page;
    const m = await measure(hp);
    const { count: stops, seen } = await tabStopsBeforeCloseAll(hp);
    t.diagnostic(`tab stops: ${seen.join(' | ')}`);
    await hp.screenshot({ path: pathJoin(ARTIFACTS, 'board-50-1280.png'), fullPage: true });
    t.diagnostic(`1280×800, 52 people, 10 rooms: page height ${m.height} px, ${stops} tab stops before "Close all rooms"`);
    assert.deepEqual(m.offenders, []);
    assert.ok(stops < 40, `${stops} tab stops before "Close all rooms"`);
  });

  it('makes Quiet Fox a moderator, whose phone shows the board without overflow', async (t) => {
    await boardAction(host, ana.id, 'Make moderator');
    const ap = ana.page;
    await ap.locator('#host-panel').waitFor({ state: 'visible', timeout: WAIT_MS });
    await ap.locator('#board li.member').nth(BOTS + 1).waitFor({ timeout: WAIT_MS });
    assert.equal(await ap.locator('#end-tool').isVisible(), false, 'a moderator cannot end the session');
    const m = await measure(ap);
    const { count: stops } = await tabStopsBeforeCloseAll(ap);
    await ap.screenshot({ path: pathJoin(ARTIFACTS, 'board-50-phone.png'), fullPage: true });
    t.diagnostic(`390×844 (moderator): page height ${m.height} px, ${stops} tab stops before "Close all rooms"`);
    assert.ok(m.width <= PHONE.width, `scrollWidth ${m.width}`);
    assert.deepEqual(m.offenders, []);
  });

  it('closes one room: its people return to the main room, the others stay', async () => {
    const hp = host.page;
    const before = await hp.evaluate(() => window.sanctuary.client.state.members(window.sanctuary.client.state.rooms[0].id).length);
    await hp.getByRole('button', { name: 'Close Grief' }).click();
    await hp.locator('.room-card[aria-label="Grief"]').waitFor({ state: 'detached', timeout: WAIT_MS });
    await ana.page.locator('.room-card[aria-label="Grief"]').waitFor({ state: 'detached', timeout: WAIT_MS });
    assert.equal(await hp.evaluate(() => window.sanctuary.client.state.members('main').length), 2 + before);
    assert.equal(await hp.evaluate(() => window.sanctuary.client.state.rooms.length), ROOMS.length - 1);
    assert.deepEqual(host.errors, []);
    assert.deepEqual(ana.errors, []);
  });
});
