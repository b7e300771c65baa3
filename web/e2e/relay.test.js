// Behind a NAT that lets nothing but TURN through: two Chromium pages whose
// RTCPeerConnection may use relay candidates only (iceTransportPolicy
// "relay", forced by a test shim) get the embedded TURN server and its
// credentials in their welcome, and hear each other through it.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { startServer, freePort } from './server.js';
import { join, hearsExactly } from './people.js';

/** Forces every RTCPeerConnection of the page to relay-only ICE. */
function forceRelay() {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config = {}) {
      super({ ...config, iceTransportPolicy: 'relay' });
    }
  };
}

/** The candidate types of the pair the page's PeerConnection uses. */
function selectedPair(person) {
  return person.page.evaluate(async () => {
    const report = await window.sanctuary.client.pc.getStats();
    const all = [...report.values()];
    const pair = all.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
    if (!pair) return null;
    const local = report.get(pair.localCandidateId);
    return { local: local?.candidateType, protocol: local?.relayProtocol ?? local?.protocol };
  });
}

describe('media through the embedded TURN server', { timeout: 240000 }, () => {
  let server;
  let browser;
  let a;
  let b;

  before(async () => {
    server = await startServer('relay', ['-turn-port', String(await freePort())]);
    browser = await launch({ loopbackSockets: true });
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
      const pair = await selectedPair(p);
      assert.equal(pair?.local, 'relay', `${p.alias}: selected local candidate ${JSON.stringify(pair)}`);
    }
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});
