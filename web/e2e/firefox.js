// Launching Debian's Firefox ESR with a fake microphone and loopback ICE,
// driven by puppeteer-core over WebDriver BiDi (shared/design/BROWSER-TESTS.md),
// and joining through the join form as people.js does in Chromium.

import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';
import { WAIT_MS } from './people.js';

/** Where Debian installs Firefox ESR; FIREFOX_PATH overrides it. */
export const FIREFOX = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';

/**
 * The preferences of BROWSER-TESTS.md: a fake microphone granted without a
 * prompt, and ICE candidates on loopback. Without permission.fake Firefox
 * gathers no candidates at all in a namespace with no default route.
 */
export const FIREFOX_PREFS = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.navigator.permission.fake': true,
  'media.peerconnection.ice.loopback': true,
};

/**
 * Launches headless Firefox ESR (no sound device: its AudioContext stays
 * suspended, so judge audio by getStats, not WebAudio).
 * @returns {Promise<import('puppeteer-core').Browser>}
 */
export async function launch() {
  if (!existsSync(FIREFOX)) {
    throw new Error(`${FIREFOX} is missing: run web/e2e/run.sh (it installs firefox-esr with apt-get)`);
  }
  return puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true, extraPrefsFirefox: FIREFOX_PREFS });
}

/**
 * Opens a page and joins through the join form (dev mode).
 * @param {import('puppeteer-core').Browser} browser
 * @param {string} url the server's base URL
 * @param {{session: string, alias: string, role: string}} o
 * @returns {Promise<{page: import('puppeteer-core').Page, id: string, alias: string, errors: string[], joined: object}>}
 *   the same shape as people.js's join (joined: the page's protocol counters then), so its
 *   stats, hearsExactly and assertNoNegotiationSinceJoin apply
 */
export async function join(browser, url, o) {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${url}/`);
  await page.waitForSelector('#dev-fields', { visible: true });
  await page.locator('#session-input').fill(o.session);
  await page.locator('#alias-input').fill(o.alias);
  await page.select('#dev-role', o.role);
  await page.locator('#join-button').click();
  await page.waitForFunction(() => window.sanctuary?.client?.status === 'connected');
  const id = await page.evaluate(() => window.sanctuary.client.participantId);
  const joined = await page.evaluate(() => ({ ...window.sanctuary.counters }));
  return { page, id, alias: o.alias, errors, joined };
}
