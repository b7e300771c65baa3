// Behind a NAT that lets nothing but TURN through: two Chromium pages whose
// RTCPeerConnection may use relay candidates only (iceTransportPolicy
// "relay", forced by a test shim) get the embedded TURN server and its
// credentials in their welcome, and hear each other through it.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { startServer, freePort } from './server.js';
import { join, hearsExactly, WAIT_MS } from './people.js';

/** Forces every RTCPeerConnection of the page to relay-only ICE. */
function forceRelay() {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config = {}) {
      super({ ...config, iceTransportPolicy: 'relay' });
    }
  };
}

/**
 * The local candidate type of the pair the page's PeerConnection uses: the
 * transport's selected pair, polled until getStats reports one (its report
 * is cached and may lag the media by a moment).
 */
async function selectedLocalType(person) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const type = await person.page.evaluate(async () => {
      const report = await window.sanctuary.client.pc.getStats();
      const all = [...report.values()];
      const transport = all.find((s) => s.type === 'transport');
      const pair = report.get(transport?.selectedCandidatePairId)
        ?? all.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
      return pair ? report.get(pair.localCandidateId)?.candidateType ?? null : null;
    });
    if (type || Date.now() > deadline) return type;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('media through the embedded TURN server', { timeout: 240000 }, () => {
  let server;
  let browser;
  let a;
  let b;

  before(async () => {
    server = await startServer('relay', ['-turn-port', String(await freePort())]);
    browser = await launch(); // loopback sockets, which reach the TURN server on 127.0.0.1
    a = await join(browser, server.url, { session: 'e2e-relay', alias: 'Relay Fox', role: 'host', initScript: forceRelay });
    b = await join(browser, server.url, { session: 'e2e-relay', alias: 'Relay Otter', role: 'participant', initScript: forceRelay });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('hears each other over relay candidates only', async () => {
    await hearsExactly(a, [b]);
    await hearsExactly(b, [a]);
    for (const p of [a, b]) {
      assert.equal(await selectedLocalType(p), 'relay', `${p.alias}: the selected pair's local candidate`);
    }
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});
