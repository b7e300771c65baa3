// A pion bot in the same session as a browser: the Go bots command
// (cmd/sanctuary-bots), one speaking bot, loopback ICE only. It speaks
// signed Opus packets, so a browser that hears it has a slot naming it;
// it counts the packets it receives without a signature — the browser's
// microphone — as unrecognised_packets in its JSON report.

import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT, startServer } from './server.js';
import { WAIT_MS, hearsExactly } from './people.js';

/** The alias of bot 0, the one bot of a run (bots.Run names them "bot <i>"). */
export const BOT_ALIAS = 'bot 0';

/**
 * How long the bots command may take beyond its warm-up and window: its own
 * join (15 s) and media (20 s) deadlines, the drain after the window, and
 * slack for a busy machine (ms).
 */
const BOTS_OVERHEAD_MS = 45000;
/** The bots command's warm-up between connected and the window (its -warmup default, ms). */
const BOTS_WARMUP_MS = 2000;

/**
 * A fresh HS256 secret for a server started with -jwt-secret: the bots
 * mint their own tokens with it, and the server's dev form still works.
 * @returns {string}
 */
export function newSecret() {
  return randomBytes(32).toString('hex');
}

/**
 * The bots binary: SANCTUARY_BOTS_BIN when set (run.sh builds it once),
 * otherwise `go build ./cmd/sanctuary-bots` into a temporary folder.
 * @returns {string}
 */
export function botsBinary() {
  if (process.env.SANCTUARY_BOTS_BIN && existsSync(process.env.SANCTUARY_BOTS_BIN)) return process.env.SANCTUARY_BOTS_BIN;
  const out = join(mkdtempSync(join(tmpdir(), 'sanctuary-e2e-bots-')), 'sanctuary-bots');
  execFileSync('go', ['build', '-o', out, './cmd/sanctuary-bots'], { cwd: ROOT, stdio: 'inherit' });
  return out;
}

/**
 * Starts one speaking bot (or o.bots bots, o.speakers of them speaking) in
 * `session` for a window of `durationS` seconds (they speak from connected
 * to exit: about 2 s of warm-up more). Bot 0's token says host.
 * @param {string} url the server's base URL (http://127.0.0.1:PORT)
 * @param {{secret: string, session: string, durationS: number, bots?: number, speakers?: number}} o
 * @returns {{done: Promise<{code: number|null, report: any, stderr: string}>, stop: () => void}}
 *   done settles when the command exits, with its parsed JSON report (null
 *   when it printed none); it rejects when the command outlives its bound
 *   (it is then killed)
 */
export function startBot(url, o) {
  const ws = `${url.replace(/^http/, 'ws')}/ws`;
  const args = ['-url', ws, '-ice-loopback-only', '-bots', String(o.bots ?? 1), '-speakers', String(o.speakers ?? 1),
    '-duration', `${o.durationS}s`, '-json', '-session', o.session];
  // The secret goes through the environment twin: arguments are visible to other users.
  const proc = spawn(botsBinary(), args, {
    env: { ...process.env, SANCTUARY_BOTS_SECRET: o.secret }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const boundMs = BOTS_WARMUP_MS + o.durationS * 1000 + BOTS_OVERHEAD_MS;
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the bots command did not exit within ${boundMs} ms; stderr:\n${stderr}`));
    }, boundMs);
    proc.once('error', (e) => { clearTimeout(timer); reject(e); });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      let report = null;
      try {
        report = JSON.parse(stdout);
      } catch {
        // no report: the command could not run; code and stderr say why
      }
      resolve({ code, report, stderr });
    });
  });
  return { done, stop: () => { if (proc.exitCode === null) proc.kill('SIGKILL'); } };
}

/**
 * Waits until the person's page lists a participant aliased `alias` and
 * returns it as a source for hearsExactly. It polls with page.evaluate,
 * which Playwright and Puppeteer pages share.
 * @param {{page: any, alias: string}} person
 * @returns {Promise<{id: string, alias: string}>}
 */
export async function participantNamed(person, alias) {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const id = await person.page.evaluate((a) => [...(window.sanctuary.client?.state.participants.values() ?? [])]
      .find((p) => p.alias === a)?.id ?? '', alias);
    if (id) return { id, alias };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${person.alias}: no participant "${alias}" listed within ${WAIT_MS} ms`);
}

/**
 * One bot joins the person's session and speaks for a window of
 * `durationS` seconds: waits until the person hears exactly the bot (a slot
 * naming it, packets and energy growing), then until the bot exits.
 * @param {{page: any, alias: string}} person already joined to o.session
 * @param {string} url the server's base URL
 * @param {{secret: string, session: string, durationS: number}} o
 * @returns {Promise<{bot: {id: string, alias: string}, heard: {before: any, after: any},
 *   code: number|null, report: any, stderr: string}>} heard: the two slot
 *   samples that showed the bot; the rest: the bots command's exit
 */
export async function talkWithBot(person, url, o) {
  const run = startBot(url, o);
  try {
    const bot = await participantNamed(person, BOT_ALIAS);
    const heard = await hearsExactly(person, [bot]);
    return { bot, heard, ...(await run.done) };
  } finally {
    run.stop();
    run.done.catch(() => {}); // on an early failure nobody awaits it
  }
}

/**
 * The browser-and-bot suite, one per browser: a page joins a session of its
 * own server, hears the one bot (a slot naming it with energy) and is heard
 * by it (at least a second of unsigned packets in the bot's report).
 * @param {string} browserName names the suite, the session and the log
 * @param {{launch: () => Promise<any>, join: Function, alias: string}} b
 */
export function botSuite(browserName, b) {
  const session = `e2e-bot-${browserName.toLowerCase()}`;
  const botWindowS = 8; // the bot's measurement window; it speaks about 2 s longer
  const minMicPackets = 50; // one second of the page's 20 ms packets
  describe(`${browserName} with a pion bot`, { timeout: 120000 }, () => {
    const secret = newSecret();
    let server;
    let browser;
    let person;

    before(async () => {
      server = await startServer(`bot-${browserName.toLowerCase()}`, ['-jwt-secret', secret]);
      browser = await b.launch();
      person = await b.join(browser, server.url, { session, alias: b.alias, role: 'participant' });
    });

    after(async () => {
      if (person?.errors.length) console.log(`${person.alias} page errors:`, person.errors);
      await browser?.close();
      await server?.stop();
    });

    it('hears the bot and is heard by it', async (t) => {
      const r = await talkWithBot(person, server.url, { secret, session, durationS: botWindowS });
      const slot = r.heard.after.slots.find((s) => s.participant === r.bot.id);
      assert.ok(slot.totalAudioEnergy > 0, `the bot's slot has no energy: ${JSON.stringify(slot)}`);
      assert.equal(r.code, 0, `the bots command failed:\n${r.stderr}`);
      assert.equal(r.report.connected, 1, 'the bot connected');
      assert.equal(r.report.foreign_packets, 0, 'packets leaked to the bot');
      assert.ok(r.report.unrecognised_packets >= minMicPackets,
        `the bot got ${r.report.unrecognised_packets} packets from the page, want ≥ ${minMicPackets}`);
      assert.deepEqual(person.errors, []);
      // Once the server has closed the bot's PeerConnection, the one left is
      // the page's, and the server sealed and sent what the page heard
      // itself (sfu/direct.go). Its leave is handled after the bot exits:
      // wait for it.
      const gauge = async (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm')
        .exec(await (await fetch(`${server.url}/metrics`)).text())?.[1]);
      const deadline = Date.now() + WAIT_MS;
      while (await gauge('sanctuary_peer_connections') !== 1 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(await gauge('sanctuary_peer_connections'), 1, "the bot's PeerConnection is still open");
      assert.equal(await gauge('sanctuary_direct_peer_connections'), 1,
        "the page's PeerConnection is not on the direct write path");
      t.diagnostic(`page: ${slot.packetsReceived} packets from the bot when checked; bot: ${r.report.unrecognised_packets} from the page`);
    });
  });
}
