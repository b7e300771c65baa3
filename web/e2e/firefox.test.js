// Firefox and a pion bot in one session: the page hears the bot (a slot
// naming it, packets and energy growing) and the bot hears the page's fake
// microphone (packets without a bot signature in its report). Firefox ESR
// runs headless under puppeteer-core (WebDriver BiDi); its AudioContext
// stays suspended, so the page's getStats figures are the evidence.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, join } from './firefox.js';
import { startServer } from './server.js';
import { newSecret, talkWithBot } from './bots.js';

const SESSION = 'e2e-bot-firefox';
/** The bot's measurement window (s); it speaks about 2 s longer. */
const BOT_WINDOW_S = 8;
/** Packets the bot must get from the page: one second of 20 ms packets. */
const MIN_MIC_PACKETS = 50;

describe('Firefox with a pion bot', { timeout: 120000 }, () => {
  const secret = newSecret();
  let server;
  let browser;
  let person;

  before(async () => {
    server = await startServer('bot-firefox', ['-jwt-secret', secret]);
    browser = await launch();
    person = await join(browser, server.url, { session: SESSION, alias: 'Fire Fox', role: 'participant' });
  });

  after(async () => {
    if (person?.errors.length) console.log(`${person.alias} page errors:`, person.errors);
    await browser?.close();
    await server?.stop();
  });

  it('hears the bot and is heard by it', async (t) => {
    const r = await talkWithBot(person, server.url, { secret, session: SESSION, durationS: BOT_WINDOW_S });
    const slot = r.heard.after.slots.find((s) => s.participant === r.bot.id);
    assert.ok(slot.totalAudioEnergy > 0, `the bot's slot has no energy: ${JSON.stringify(slot)}`);
    assert.equal(r.code, 0, `the bots command failed:\n${r.stderr}`);
    assert.equal(r.report.connected, 1, 'the bot connected');
    assert.equal(r.report.foreign_packets, 0, 'packets leaked to the bot');
    assert.ok(r.report.unrecognised_packets >= MIN_MIC_PACKETS,
      `the bot got ${r.report.unrecognised_packets} packets from the page, want ≥ ${MIN_MIC_PACKETS}`);
    assert.deepEqual(person.errors, []);
    t.diagnostic(`page: ${slot.packetsReceived} packets from the bot when checked; bot: ${r.report.unrecognised_packets} from the page`);
  });
});
