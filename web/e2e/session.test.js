// A host and two participants in real Chromium against the real server:
// join and hear each other, breakouts through the host panel (select and
// drag and drop), close all, with no new PeerConnection and no new offer.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { launch } from './chromium.js';
import { startServer, ARTIFACTS } from './server.js';
import {
  join, hearsExactly, hearsNobody, counters, inRoom, boardAction, dragOnto, lastSlots, slotLogLength, slotNamesSince, WAIT_MS,
  assertNoNegotiationSinceJoin,
} from './people.js';

const SESSION = 'e2e-breakouts';

describe('a session in three browsers', { timeout: 480000 }, () => {
  let server;
  let browser;
  let host;
  let ana; // moved to Room 1 through her menu on the board
  let ben; // dragged onto Room 1 later
  const all = () => [host, ana, ben];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer('session');
    browser = await launch();
    host = await join(browser, server.url, { session: SESSION, alias: 'Host Heron', role: 'host' });
    ana = await join(browser, server.url, { session: SESSION, alias: 'Quiet Fox', role: 'participant' });
    ben = await join(browser, server.url, { session: SESSION, alias: 'Blue Otter', role: 'participant' });
  });

  after(async () => {
    for (const p of [host, ana, ben]) {
      if (p?.errors.length) console.log(`${p.alias} page errors:`, p.errors);
    }
    await browser?.close();
    await server?.stop();
  });

  /** The page's slot <audio> elements: playing, not muted, and which track each plays. */
  function audioElements(p) {
    return p.page.evaluate(() => [...document.querySelectorAll('#audio-sink audio')].map((a) => ({
      track: a.srcObject?.getAudioTracks()[0]?.id ?? '', paused: a.paused, muted: a.muted,
    })));
  }

  const firstAudio = new Map();

  /**
   * Every page still has the PeerConnection of its join (one offer, one
   * answer, no reconnect since), and plays its slots on the same K <audio>
   * elements with the same tracks as at join.
   */
  async function oneNegotiationEach() {
    for (const p of all()) {
      await assertNoNegotiationSinceJoin(p);
      const els = await audioElements(p);
      const k = await p.page.evaluate(() => window.sanctuary.client.slotMids.length);
      assert.equal(els.length, k, `${p.alias}: one <audio> per slot`);
      assert.ok(els.every((e) => e.track && !e.paused && !e.muted), `${p.alias}: ${JSON.stringify(els)}`);
      if (!firstAudio.has(p)) firstAudio.set(p, els.map((e) => e.track));
      assert.deepEqual(els.map((e) => e.track), firstAudio.get(p), `${p.alias}: slot elements kept their tracks`);
    }
  }

  it('1. everyone hears the two others', async () => {
    await Promise.all([
      hearsExactly(host, [ana, ben]),
      hearsExactly(ana, [host, ben]),
      hearsExactly(ben, [host, ana]),
    ]);
    // The room view lists all three, with the host's role.
    // The host sees everyone on the board, once: no second list of the host's room.
    await host.page.locator('#board li.member').nth(2).waitFor({ timeout: WAIT_MS });
    assert.equal(await host.page.locator('#board li.member').count(), 3);
    assert.equal(await host.page.locator('#people-card').isVisible(), false);
    await ana.page.locator('#people li').nth(2).waitFor({ timeout: WAIT_MS });
    assert.match(await ana.page.locator(`#people li[data-pid="${host.id}"]`).innerText(), /Host/);
    assert.equal(await ana.page.locator('#host-panel').isVisible(), false, 'participants see no host panel');
    await oneNegotiationEach();
  });

  it('2. a participant moved to a breakout hears only its room', async () => {
    const hp = host.page;
    await hp.getByLabel('Number of rooms').fill('2');
    await hp.getByRole('button', { name: 'Create rooms' }).click();
    await hp.locator('#board .room-card').nth(2).waitFor({ timeout: WAIT_MS });
    assert.deepEqual(await hp.locator('#board .room-card .lane-name').allInnerTexts(),
      ['Main room (not in a breakout room)', 'Room 1', 'Room 2']);

    await boardAction(host, ana.id, 'Move to Room 1');
    await inRoom(ana, 'Room 1');
    await hp.locator('.room-card[aria-label="Room 1"]').locator(`li[data-pid="${ana.id}"]`).waitFor({ timeout: WAIT_MS });

    // Alone in Room 1, Ana hears nobody; the host and Ben hear only each other.
    await Promise.all([
      hearsNobody(ana),
      hearsExactly(host, [ben]),
      hearsExactly(ben, [host]),
    ]);
    assert.deepEqual((await lastSlots(ana)).filter(Boolean), []);
    assert.equal(await ana.page.locator('#alone').isVisible(), true, 'Ana is told she is alone');
    // Once settled, no slots message names Ana to the main room, nor anyone to Ana.
    const settled = await Promise.all(all().map(slotLogLength));
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(!(await slotNamesSince(host, settled[0])).includes(ana.id), 'host: a slot named Ana');
    assert.ok(!(await slotNamesSince(ben, settled[2])).includes(ana.id), 'Ben: a slot named Ana');
    assert.deepEqual(await slotNamesSince(ana, settled[1]), [], 'Ana: a slot named someone');
    assert.ok(!(await lastSlots(host)).includes(ana.id), 'host still has Ana in a slot');
    assert.ok(!(await lastSlots(ben)).includes(ana.id), 'Ben still has Ana in a slot');

    await hp.screenshot({ path: pathJoin(ARTIFACTS, 'host-panel.png'), fullPage: true });
    await ana.page.screenshot({ path: pathJoin(ARTIFACTS, 'participant-breakout.png'), fullPage: true });
    await oneNegotiationEach();
  });

  it('2b. dragging a participant onto a room moves them', async () => {
    const hp = host.page;
    await dragOnto(hp, hp.locator(`#board li[data-pid="${ben.id}"] .name`), hp.locator('.room-card[aria-label="Room 1"]'));
    await inRoom(ben, 'Room 1');
    await Promise.all([
      hearsExactly(ana, [ben]),
      hearsExactly(ben, [ana]),
      hearsNobody(host),
    ]);
    await oneNegotiationEach();
  });

  it('3. closing all rooms brings everyone back together', async () => {
    const hp = host.page;
    await hp.getByLabel('Close all rooms').selectOption('0');
    await hp.getByRole('button', { name: 'Close all rooms' }).click();
    await Promise.all(all().map((p) => inRoom(p, 'Main room')));
    await hp.locator('#board .room-card').nth(1).waitFor({ state: 'detached', timeout: WAIT_MS });
    await Promise.all([
      hearsExactly(host, [ana, ben]),
      hearsExactly(ana, [host, ben]),
      hearsExactly(ben, [host, ana]),
    ]);
    await oneNegotiationEach();
    await ben.page.screenshot({ path: pathJoin(ARTIFACTS, 'participant-main.png'), fullPage: true });
  });

  it('4. a dropped websocket resumes: same record, same PeerConnection, audio throughout', async () => {
    const pid = ana.id;
    const joins = ana.joined.joins;
    await ana.page.evaluate(() => window.sanctuary.client.ws.close());
    await ana.page.waitForFunction((n) => window.sanctuary.counters.joins === n + 1, joins, { timeout: WAIT_MS });
    await ana.page.waitForFunction((n) => window.sanctuary.counters.resumes === n + 1, ana.joined.resumes, { timeout: WAIT_MS });
    await ana.page.waitForFunction(() => window.sanctuary.client.status === 'connected', null, { timeout: WAIT_MS });
    assert.equal(await ana.page.evaluate(() => window.sanctuary.client.participantId), pid, 'same participant record');
    const c = await counters(ana);
    const drops = `; drops: ${JSON.stringify(c.drops)}`;
    assert.equal(c.peerConnections, ana.joined.peerConnections, `the resume kept the PeerConnection${drops}`);
    assert.equal(c.offers, ana.joined.offers, `no second offer${drops}`);
    await Promise.all([
      hearsExactly(ana, [host, ben]),
      hearsExactly(host, [ana, ben]),
      hearsExactly(ben, [host, ana]),
    ]);
    assert.equal(await host.page.locator('#board li.member').count(), 3, 'still three people, nobody twice');
    assert.equal(await ben.page.locator('#people li').count(), 3, 'still three people, nobody twice');
  });
});
