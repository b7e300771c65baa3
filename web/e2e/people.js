// One person in a browser context: join through the UI, read what the page
// hears. Every wait is bounded by a timeout; nothing asserts wall-clock time.

import assert from 'node:assert/strict';

/** How long any one wait may take (ms). */
export const WAIT_MS = 45000; // generous: a loaded 2-core machine makes a join take seconds
/** The interval over which a stream must grow, or stay still (ms). */
const SAMPLE_MS = 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens the join form in a new page of context, with the session and the
 * name filled in; the page's errors are collected in errors.
 * @param {import('playwright-core').BrowserContext} context
 * @param {string} url
 * @param {{session: string, alias: string, query?: string, consoleErrors?: boolean}} o query is
 *   appended to the page's address ("?level=mic"); with consoleErrors, errors also collects the
 *   console's errors
 */
export async function openJoinForm(context, url, o) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  if (o.consoleErrors) page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${url}/${o.query ?? ''}`);
  await page.locator('#dev-fields').waitFor({ state: 'visible', timeout: WAIT_MS });
  await page.getByLabel('Session', { exact: true }).fill(o.session);
  await page.getByLabel('Name others see').fill(o.alias);
  return { page, errors };
}

/**
 * Opens a page in a new context and joins through the join form (dev mode).
 * @param {import('playwright-core').Browser} browser
 * @param {string} url the server's base URL
 * @param {{session: string, alias: string, role: string, viewport?: {width: number, height: number},
 *   initScript?: Function, query?: string}} o initScript runs in the page before its own scripts;
 *   query is appended to the page's address ("?level=mic")
 */
export async function join(browser, url, o) {
  const context = await browser.newContext({ viewport: o.viewport ?? { width: 1100, height: 900 } });
  if (o.initScript) await context.addInitScript(o.initScript);
  const { page, errors } = await openJoinForm(context, url, { ...o, consoleErrors: true });
  await page.getByLabel('Join as').selectOption(o.role);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.waitForFunction(() => window.sanctuary?.client?.status === 'connected', null, { timeout: WAIT_MS });
  const id = await page.evaluate(() => window.sanctuary.client.participantId);
  const person = { page, context, id, alias: o.alias, errors };
  person.joined = await counters(person);
  if (person.joined.joins > 1) {
    // On a loaded machine Chromium's ICE sometimes gathers nothing for a
    // PeerConnection (gathering stays "gathering", ICE "new"): the server
    // fails it with ice_failed after 30 s and the client joins again. The
    // join did succeed, with one PeerConnection per join; say so.
    console.log(`${o.alias}: joined after ${person.joined.joins - 1} retried join(s); drops: ${JSON.stringify(person.joined.drops)}`);
  }
  return person;
}

/**
 * Asserts that every join of the person's page so far had exactly one
 * PeerConnection, offer and answer, and that nothing reconnected since
 * join() returned (the counters are those of `person.joined`).
 */
export async function assertNoNegotiationSinceJoin(person) {
  const c = await counters(person);
  const base = person.joined;
  const drops = `; drops: ${JSON.stringify(c.drops)}`;
  assert.equal(c.joins, base.joins, `${person.alias}: joins since join() (a reconnect would add one)${drops}`);
  for (const k of ['peerConnections', 'offers', 'answers']) {
    assert.equal(c[k], c.joins, `${person.alias}: ${k}, one per join${drops}`);
  }
}

/** The page's per-slot receive statistics. */
export function stats(person) {
  return person.page.evaluate(() => window.sanctuary.client.slotStats());
}

/** The protocol counters of the page (joins, offers, peerConnections…). */
export function counters(person) {
  return person.page.evaluate(() => ({ ...window.sanctuary.counters }));
}

/**
 * Waits until cond(before, after) holds for two samples SAMPLE_MS apart.
 * @returns {Promise<{before: any, after: any}>}
 */
async function until(person, what, cond) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  while (Date.now() < deadline) {
    const before = await stats(person);
    await sleep(SAMPLE_MS);
    const after = await stats(person);
    last = { before, after };
    if (cond(before, after)) return last;
  }
  throw new Error(`${person.alias}: ${what} not seen within ${WAIT_MS} ms; last samples: ${JSON.stringify(last)}`);
}

/** Slot i carries audio from `pid` now: packets grow, with a level or energy. */
function live(before, after, pid) {
  return after.slots.some((s) => {
    const b = before.slots[s.index];
    return s.participant === pid && b.participant === pid && s.packetsReceived > b.packetsReceived
      && (s.audioLevel > 0 || s.totalAudioEnergy > b.totalAudioEnergy);
  });
}

/**
 * Waits until the person hears exactly `sources`: each has a slot whose
 * packets and energy grow, no slot names anyone else, and every slot that
 * names nobody has stopped growing.
 * @param {{page: any, alias: string}} person
 * @param {{id: string}[]} sources
 */
export function hearsExactly(person, sources) {
  const want = new Set(sources.map((s) => s.id));
  return until(person, `hearing exactly [${sources.map((s) => s.alias).join(', ')}]`, (before, after) => {
    const named = after.slots.map((s) => s.participant).filter(Boolean);
    if (named.length !== want.size || named.some((p) => !want.has(p))) return false;
    for (const s of after.slots) {
      if (!s.participant && s.packetsReceived !== before.slots[s.index].packetsReceived) return false;
    }
    return [...want].every((pid) => live(before, after, pid));
  });
}

/**
 * Waits until the person hears nobody: every slot is empty and no slot's
 * packetsReceived grows.
 */
export function hearsNobody(person) {
  return until(person, 'silence', (before, after) => after.slots.every((s, i) =>
    !s.participant && s.packetsReceived === before.slots[i].packetsReceived));
}

/** The last `slots` message the page received. */
export async function lastSlots(person) {
  return person.page.evaluate(() => window.sanctuary.client.slots);
}

/** Every participant id any `slots` message named since index `from` of the log. */
export async function slotNamesSince(person, from) {
  return person.page.evaluate((i) => [...new Set(window.sanctuary.slotLog.slice(i)
    .flatMap((e) => e.slots).filter(Boolean))], from);
}

/** The current length of the page's slots log. */
export function slotLogLength(person) {
  return person.page.evaluate(() => window.sanctuary.slotLog.length);
}

/**
 * Waits until the person's page says they are in `room`. On a timeout the
 * error says what the page showed instead: its room, its connection status
 * and the error it displayed (a refused command shows there).
 */
export async function inRoom(person, room) {
  try {
    await person.page.locator('#room-name').filter({ hasText: room }).waitFor({ timeout: WAIT_MS });
  } catch (err) {
    const shown = await person.page.evaluate(() => ({
      room: document.querySelector('#room-name')?.textContent,
      status: document.querySelector('#conn-status')?.textContent,
      error: document.querySelector('#room-error')?.textContent,
    })).catch((e) => ({ unreadable: String(e) }));
    throw new Error(`${person.alias} not in "${room}" after ${WAIT_MS} ms; the page shows ${JSON.stringify(shown)}`, { cause: err });
  }
}

/**
 * Opens a person's menu on the host's board and picks one of its items.
 * @param {{page: any}} staff the host's or a moderator's page
 * @param {string} pid whose menu
 * @param {string} item the menu item's words ("Move to Room 1", "Mute for everyone"…)
 */
export async function boardAction(staff, pid, item) {
  const row = staff.page.locator(`#board li[data-pid="${pid}"]`);
  await row.locator('.menu-button').click();
  await row.getByRole('menuitem', { name: item, exact: true }).click();
}

/**
 * Drags one element onto another with the mouse, in small steps as a hand
 * does (Chromium starts a drag only after the pointer moved a few pixels).
 * @param {any} page a Playwright page
 * @param {any} source a locator
 * @param {any} target a locator
 */
export async function dragOnto(page, source, target) {
  await source.scrollIntoViewIfNeeded();
  const from = await source.boundingBox();
  await page.mouse.move(from.x + 12, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + 30, from.y + from.height / 2, { steps: 4 });
  await target.scrollIntoViewIfNeeded();
  const to = await target.boundingBox();
  await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 8 });
  await page.mouse.up();
}
