// Launching Debian's Chromium with a fake microphone and loopback-only ICE
// (shared/design/BROWSER-TESTS.md).

import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

/** Where Debian installs Chromium; CHROMIUM_PATH overrides it. */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Playwright's own --disable-features list, read from playwright-core's
 * source. Chromium keeps only the last --disable-features flag, so ours must
 * repeat Playwright's list before appending WebRtcHideLocalIpsWithMdns.
 * @returns {string[]}
 */
export function playwrightDisabledFeatures() {
  const pkg = require.resolve('playwright-core/package.json');
  const bundle = readFileSync(pkg.replace(/package\.json$/, 'lib/coreBundle.js'), 'utf8');
  const start = bundle.indexOf('disabledFeatures = [');
  const end = bundle.indexOf('].filter(Boolean)', start);
  if (start < 0 || end < 0) throw new Error('playwright-core: the disabledFeatures list was not found');
  const body = bundle.slice(start, end).replace(/\/\/[^\n]*/g, '');
  const names = [...body.matchAll(/"([A-Za-z0-9_]+)"/g)].map((m) => m[1]);
  if (names.length < 5) throw new Error(`playwright-core: only ${names.length} disabled features found`);
  return names;
}

/**
 * The Chromium arguments of BROWSER-TESTS.md.
 * @returns {string[]}
 */
export function chromiumArgs() {
  return [
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--autoplay-policy=no-user-gesture-required',
    '--webrtc-ip-handling-policy=default_public_interface_only',
    `--disable-features=${[...playwrightDisabledFeatures(), 'WebRtcHideLocalIpsWithMdns'].join(',')}`,
    '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
  ];
}

/**
 * Launches headless Chromium.
 *
 * By default its PeerConnections use Chromium's default IP policy with
 * loopback allowed, not BROWSER-TESTS.md's default_public_interface_only.
 * With that policy and no default route (a loopback-only namespace)
 * Chromium opens no socket of its own: enough for host checks answered as
 * peer-reflexive, but it never reaches a TURN server, and now and then it
 * never starts ICE at all (state "new" after its answer; the client then
 * starts afresh 10 s later). That stall made `.ci/run` red on 2026-11-28
 * (the disguise test saw a second offer) and was seen in 6 of 16 joins of
 * one variant of the join bench, against 0 of 16 with this policy
 * (cmd/sanctuary-bots/BENCHMARKS.md, "Joins in browsers…"). The join-time
 * bench passes loopbackSockets: false only with RECIPE=1, to measure with
 * the recipe's policy as its figures before 2026-11-28 12:49 UTC were.
 * @param {{loopbackSockets?: boolean}} [o]
 * @returns {Promise<import('playwright-core').Browser>}
 */
export async function launch(o = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run web/e2e/run.sh (it installs chromium with apt-get)`);
  }
  let args = chromiumArgs();
  if (o.loopbackSockets ?? true) {
    args = [...args.filter((a) => !a.startsWith('--webrtc-ip-handling-policy')), '--allow-loopback-in-peer-connection'];
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}
