// The DTLS handshake of a join in real Chromium does not wait on the server.
//
// The server offers (a=setup:actpass) and Chromium answers active, so
// Chromium is the DTLS client: it sends its ClientHello as soon as its own
// ICE is connected, which is as soon as the server answered its first
// check, and retransmits it after 50 ms, then 100, 200, 400 ms later. The
// server's DTLS server starts only when the server's ICE agent has
// nominated a pair. pion used to wait 1 s before nominating the
// peer-reflexive pair a browser always is, then for the browser's next
// check; meanwhile every ClientHello was buffered, and when the DTLS
// server started it answered each copy with a HelloVerifyRequest.
//
// What is asserted is a count, read from getStats at the moment the DTLS
// transport turns connected: the datagrams Chromium received on it. In a
// session of one nobody sends audio and no RTCP has been sent yet, so they
// are the server's DTLS flights, each in one datagram at pion's 1200-byte
// MTU: HelloVerifyRequest; ServerHello … ServerHelloDone; ChangeCipherSpec
// and Finished. Three means nothing was sent twice; before the fix there
// were 6 or 7 (a HelloVerifyRequest per ClientHello). One retransmitted
// ClientHello is allowed, so that a loaded machine that is slow for 50 ms
// does not fail the test; a server waiting for its ICE shows at least two.
// The page runs the protocol client alone, without the app, so no earlier
// getStats call can serve a cached report.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { startServer } from './server.js';
import { WAIT_MS } from './people.js';

/** Joins, each in a new context and a session of its own. */
const JOINS = 3;
/** DTLS flights of the server, one datagram each (see above). */
const SERVER_FLIGHTS = 3;
/** ClientHello retransmissions allowed (see above). */
const SLACK = 1;

/** In the page: join a session with the protocol client; return the stats at DTLS connected. */
async function joinAndSnapshot({ session, waitMs }) {
  const { SanctuaryClient } = await import('/js/protocol.js');
  const q = new URLSearchParams({ session, role: 'participant', user: `u-${session}` });
  const { token } = await (await fetch(`/dev/token?${q}`, { cache: 'no-store' })).json();

  let snapshot;
  const connected = new Promise((resolve) => { snapshot = resolve; });
  class PC extends RTCPeerConnection {
    async setLocalDescription(d) {
      await super.setLocalDescription(d);
      const dtls = this.getTransceivers()[0]?.receiver.transport;
      dtls?.addEventListener('statechange', async () => {
        if (dtls.state !== 'connected') return;
        const report = await this.getStats();
        const out = {
          offerSetup: /a=setup:(\w+)/.exec(this.remoteDescription.sdp)?.[1],
          answerSetup: /a=setup:(\w+)/.exec(this.localDescription.sdp)?.[1],
        };
        report.forEach((s) => {
          if (s.type === 'transport') {
            Object.assign(out, {
              dtlsRole: s.dtlsRole, packetsReceived: s.packetsReceived, packetsSent: s.packetsSent,
              pair: s.selectedCandidatePairId,
            });
          }
        });
        const pair = report.get(out.pair);
        out.checksSent = pair?.requestsSent;
        out.checksReceived = pair?.requestsReceived;
        snapshot(out);
      });
    }
  }
  const client = new SanctuaryClient({
    url: `ws://${location.host}/ws`, token, session, alias: 'Handshake', RTCPeerConnection: PC,
  });
  client.start();
  const out = await Promise.race([connected, new Promise((r) => setTimeout(() => r(null), waitMs))]);
  await client.leave();
  return out;
}

describe('the DTLS handshake of a join', { timeout: 120000 }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer('handshake');
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('is answered at once: at most one ClientHello is sent again', async (t) => {
    for (let i = 0; i < JOINS; i++) {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${server.url}/healthz`);
        const s = await page.evaluate(joinAndSnapshot, { session: `handshake-${i}`, waitMs: WAIT_MS });
        assert.ok(s, `join ${i}: the DTLS transport did not connect within ${WAIT_MS} ms`);
        assert.deepEqual([s.offerSetup, s.answerSetup, s.dtlsRole], ['actpass', 'active', 'client'],
          `join ${i}: the server offers actpass and Chromium, answering active, is the DTLS client`);
        t.diagnostic(`join ${i}: ${s.packetsReceived} DTLS datagrams from the server, `
          + `${s.checksSent} ICE checks sent by Chromium before DTLS connected`);
        assert.ok(s.packetsReceived >= SERVER_FLIGHTS && s.packetsReceived <= SERVER_FLIGHTS + SLACK,
          `join ${i}: DTLS datagrams from the server before connected: ${s.packetsReceived}, want `
          + `${SERVER_FLIGHTS} (one per flight), at most ${SERVER_FLIGHTS + SLACK}: ${JSON.stringify(s)}`);
      } finally {
        await context.close();
      }
    }
  });
});
