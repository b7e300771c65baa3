// The client's pure modules in node: session state, event words, token
// sources, error words, aliases.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SessionState } from '../static/js/state.js';
import { describeEvent } from '../static/js/notify.js';
import { tokenFromFragment, allowedOrigins, tokenFromMessage } from '../static/js/token.js';
import { describeError, isFatal } from '../static/js/errors.js';
import { generateAlias, aliasCount } from '../static/js/alias.js';
import { ChatLog, tabOf } from '../static/js/chatlog.js';

const P = (id, extra = {}) => ({ id, alias: id.toUpperCase(), role: 'participant', room: 'main', state: 'connected', ...extra });

function loaded() {
  const st = new SessionState();
  st.load({ session: 's', version: 10, participants: [P('h', { role: 'host' }), P('a'), P('b')], rooms: [], hands: [] });
  return st;
}

describe('SessionState', () => {
  it('applies the breakout lifecycle in version order', () => {
    const st = loaded();
    const rooms = [{ id: 'r-1', name: 'Room 1' }, { id: 'r-2', name: 'Room 2' }];
    assert.equal(st.apply({ event: 'breakouts.created', version: 11, rooms }), 'applied');
    assert.equal(st.apply({ event: 'participant.moved', version: 12, participant: P('a', { room: 'r-1' }), fromRoom: 'main' }), 'applied');
    assert.equal(st.apply({ event: 'breakouts.assigned', version: 13, moves: [P('b', { room: 'r-2' })] }), 'applied');
    assert.deepEqual(st.members('r-1').map((p) => p.id), ['a']);
    assert.equal(st.roomName('r-2'), 'Room 2');
    assert.equal(st.apply({ event: 'breakouts.closed', version: 14, rooms, moves: [P('a'), P('b')] }), 'applied');
    assert.deepEqual(st.rooms, []);
    assert.deepEqual(st.members('main').map((p) => p.id), ['h', 'a', 'b']);
  });

  it('reports stale events and gaps without changing anything', () => {
    const st = loaded();
    assert.equal(st.apply({ event: 'participant.left', version: 10, participant: P('a') }), 'stale');
    assert.equal(st.apply({ event: 'participant.left', version: 12, participant: P('a') }), 'gap');
    assert.equal(st.participants.size, 3);
    assert.equal(st.version, 10);
  });

  it('keeps hands in the order raised and forgets those who leave', () => {
    const st = loaded();
    st.apply({ event: 'participant.updated', change: 'hand', version: 11, participant: P('b', { handRaised: true }) });
    st.apply({ event: 'participant.updated', change: 'hand', version: 12, participant: P('a', { handRaised: true }) });
    assert.deepEqual(st.hands, ['b', 'a']);
    st.apply({ event: 'participant.removed', version: 13, participant: P('b', { handRaised: true }) });
    assert.deepEqual(st.hands, ['a']);
  });

  it('keeps the server\'s close-all deadline: from the snapshot, events, and the last room closing', () => {
    const st = new SessionState();
    const rooms = [{ id: 'r-1', name: 'Room 1', endsAt: 5000 }, { id: 'r-2', name: 'Room 2' }];
    st.load({ session: 's', version: 10, participants: [P('a', { room: 'r-1' })], rooms, hands: [], closingAt: 3000 });
    assert.equal(st.closingAt, 3000);
    assert.equal(st.roomEndsAt('r-1'), 3000, 'the deadline comes before the room\'s own end');
    assert.equal(st.roomEndsAt('r-2'), 3000, 'a room without a timer ends at the deadline');
    assert.equal(st.roomEndsAt('main'), 0);
    st.apply({ event: 'breakouts.closing.cancelled', version: 11 });
    assert.equal(st.closingAt, 0);
    assert.equal(st.roomEndsAt('r-1'), 5000);
    assert.equal(st.roomEndsAt('r-2'), 0);
    st.apply({ event: 'breakouts.closing', version: 12, closingAt: 9000 });
    assert.equal(st.roomEndsAt('r-1'), 5000, 'the room\'s own end comes first');
    assert.equal(st.roomEndsAt('r-2'), 9000);
    st.apply({ event: 'breakouts.closed', version: 13, rooms: [rooms[0]], moves: [P('a')] });
    assert.equal(st.closingAt, 9000, 'one room closed, another still counts down');
    st.apply({ event: 'breakouts.closed', version: 14, rooms: [rooms[1]] });
    assert.equal(st.closingAt, 0, 'over with the last room');
    const fresh = new SessionState();
    fresh.load({ session: 's', version: 1, participants: [], rooms: [] });
    assert.equal(fresh.closingAt, 0);
  });

  it('empties on session.ended and moves the version on for unknown kinds', () => {
    const st = loaded();
    st.apply({ event: 'something.new', version: 11 });
    st.apply({ event: 'session.ended', version: 12 });
    assert.equal(st.ended, true);
    assert.equal(st.participants.size, 0);
    assert.equal(st.version, 12);
  });
});

describe('describeEvent', () => {
  it('tells a moved participant where they are', () => {
    const st = loaded();
    st.apply({ event: 'breakouts.created', version: 11, rooms: [{ id: 'r-1', name: 'Room 1' }] });
    const ev = { event: 'participant.moved', version: 12, participant: P('a', { room: 'r-1' }), fromRoom: 'main' };
    st.apply(ev);
    assert.equal(describeEvent(ev, st, 'a').text, 'You are now in Room 1.');
    assert.equal(describeEvent(ev, st, 'b').text, 'A went to Room 1.');
  });

  it('shows a broadcast as a banner and alerts only staff', () => {
    const st = loaded();
    assert.equal(describeEvent({ event: 'broadcast', message: 'Five minutes' }, st, 'a').banner, 'Five minutes');
    const alert = { event: 'alert', participant: P('a'), room: 'main', message: '' };
    assert.equal(describeEvent(alert, st, 'b'), null);
    assert.equal(describeEvent(alert, st, 'h').urgent, true);
  });

  it('words the close-all countdown from the server\'s deadline', () => {
    const st = loaded();
    st.apply({ event: 'breakouts.created', version: 11, rooms: [{ id: 'r-1', name: 'Room 1' }] });
    st.apply({ event: 'participant.moved', version: 12, participant: P('a', { room: 'r-1' }), fromRoom: 'main' });
    const ev = { event: 'breakouts.closing', version: 13, closingAt: 100000, actor: 'h' };
    const inRoom = describeEvent(ev, st, 'a', 70000);
    assert.equal(inRoom.text, 'All breakout rooms close in 30 seconds. Please start wrapping up.');
    assert.equal(inRoom.urgent, true);
    assert.equal(describeEvent(ev, st, 'b', 40000).text, 'All breakout rooms close in 1 minute.');
    assert.equal(describeEvent({ event: 'breakouts.closing.cancelled', version: 14 }, st, 'a').text,
      'Closing the breakout rooms was cancelled.');
  });

  it('tells me when the host mutes me', () => {
    const st = loaded();
    const n = describeEvent({ event: 'participant.updated', change: 'muted', participant: P('a', { muted: true }) }, st, 'a');
    assert.equal(n.text, 'The host muted you for everyone.');
  });
});

describe('token sources', () => {
  it('reads the fragment', () => {
    assert.deepEqual(tokenFromFragment('#token=abc.def&session=demo'), { token: 'abc.def', session: 'demo' });
    assert.equal(tokenFromFragment('#session=demo'), null);
    assert.equal(tokenFromFragment(''), null);
  });

  it('allows only listed exact origins and its own', () => {
    const allowed = allowedOrigins('?origins=https://care.example, https://x.example/path,*,javascript:alert(1)', 'http://127.0.0.1:8080');
    assert.deepEqual(allowed, ['http://127.0.0.1:8080', 'https://care.example']);
  });

  it('takes a token only from an allowed origin and of the right shape', () => {
    const allowed = ['https://care.example'];
    const data = { type: 'sanctuary-token', token: 't', session: 's' };
    assert.deepEqual(tokenFromMessage({ origin: 'https://care.example', data }, allowed), { token: 't', session: 's' });
    assert.equal(tokenFromMessage({ origin: 'https://evil.example', data }, allowed), null);
    assert.equal(tokenFromMessage({ origin: 'https://care.example', data: { type: 'other', token: 't' } }, allowed), null);
    assert.equal(tokenFromMessage({ origin: 'https://care.example', data: { type: 'sanctuary-token' } }, allowed), null);
  });
});

describe('errors and aliases', () => {
  it('words every error code of PROTOCOL.md that a person can meet', () => {
    for (const code of ['token_expired', 'token_invalid', 'session_full', 'room_full', 'removed', 'unreachable', 'session_ended']) {
      assert.doesNotMatch(describeError(code).text, /went wrong/, code);
    }
    assert.equal(isFatal('removed'), true);
    assert.equal(isFatal('room_full'), false);
    assert.match(describeError('no_such_code').text, /went wrong/);
  });

  it('generates two-word aliases', () => {
    let i = 0;
    const seq = [0, 0.99, 0.5, 0.5];
    assert.equal(generateAlias(() => seq[i++]), 'Quiet Whale');
    assert.match(generateAlias(), /^[A-Z][a-z]+ [A-Z][a-z]+$/);
    assert.ok(aliasCount >= 500);
  });
});

describe('names', () => {
  it('tells identical aliases apart with a suffix of the id, and only those', () => {
    const st = new SessionState();
    st.load({ version: 1, participants: [P('p-aaaaaaaa0001', { alias: 'bot 0' }), P('p-aaaaaaaa0002', { alias: 'Bot  0 ' }), P('p-c', { alias: 'Fox' })] });
    assert.equal(st.label('p-aaaaaaaa0001'), 'bot 0 · 0001');
    assert.equal(st.label('p-aaaaaaaa0002'), 'Bot  0  · 0002');
    assert.equal(st.label('p-c'), 'Fox');
    assert.equal(st.label('p-nobody'), '');
    st.apply({ event: 'participant.left', version: 2, participant: P('p-aaaaaaaa0002') });
    assert.equal(st.label('p-aaaaaaaa0001'), 'bot 0', 'alone again: no suffix');
  });
});

describe('ChatLog', () => {
  const M = (stream, seq, extra = {}) => ({ stream, seq, clientMsgId: `c${seq}`, from: 'p-a', alias: 'A', text: `t${seq}`, at: 1000 + seq, ...extra });

  it('keeps each (stream, seq) once, counts unread per tab, and marks deletions', () => {
    const log = new ChatLog();
    assert.equal(log.add(M('room:main', 1)), true);
    assert.equal(log.add(M('room:main', 1)), false, 'a repeat is not added');
    assert.equal(log.add(M('all', 1, { at: 1001.5 })), true);
    assert.equal(log.add(M('staff:p-a', 1)), true);
    assert.equal(log.add(M('room:main', 2), { mine: true }), true);
    assert.equal(log.add(M('room:main', 3), { seen: true }), true);
    assert.deepEqual(log.unread, { room: 2, help: 1 });
    assert.deepEqual(log.list('room').map((m) => `${m.stream}#${m.seq}`), ['room:main#1', 'all#1', 'room:main#2', 'room:main#3']);
    assert.equal(log.remove('room:main', 1), true);
    assert.equal(log.remove('room:main', 1), false, 'deleting again changes nothing');
    assert.equal(log.list('room')[0].text, '');
    assert.equal(log.add(M('all', 1, { deleted: true })), false);
    assert.equal(log.list('room')[1].deleted, true, 'a replayed deletion marks the kept copy');
    log.markRead('room');
    assert.deepEqual(log.unread, { room: 0, help: 1 });
    assert.equal(tabOf('staff:p-x'), 'help');
  });

  it('shows only my current room and counts only what shows', () => {
    const log = new ChatLog();
    log.add(M('room:main', 1));
    log.setRoom('r-1');
    log.add(M('room:main', 2)); // not my room any more: kept, not shown, not counted
    log.add(M('room:r-1', 1));
    assert.deepEqual(log.list('room').map((m) => m.stream), ['room:r-1']);
    assert.equal(log.unread.room, 2);
    log.add(M('staff:p-b', 1, { at: 5000 }));
    log.add(M('staff:p-a', 2, { at: 4000 }));
    assert.deepEqual(log.threads().map((t) => t.owner), ['p-b', 'p-a']);
  });
});

describe('PitchShifter (voice disguise)', () => {
  /** The strongest frequency of a signal, by a DFT over 20..2000 Hz in 1 Hz steps. */
  function dominant(x, rate) {
    let best = 0;
    let bestF = 0;
    for (let f = 20; f <= 2000; f++) {
      let re = 0;
      let im = 0;
      const w = (2 * Math.PI * f) / rate;
      for (let n = 0; n < x.length; n++) {
        re += x[n] * Math.cos(w * n);
        im += x[n] * Math.sin(w * n);
      }
      const p = re * re + im * im;
      if (p > best) {
        best = p;
        bestF = f;
      }
    }
    return bestF;
  }

  it('moves a 440 Hz tone by the ratio (and reports its CPU cost)', async (t) => {
    const { PitchShifter } = await import('../static/js/pitchshift.js');
    const rate = 48000;
    const seconds = 1;
    const input = new Float32Array(rate * seconds).map((_, n) => 0.5 * Math.sin((2 * Math.PI * 440 * n) / rate));
    for (const ratio of [0.8, 1.25]) {
      const s = new PitchShifter(ratio);
      const out = new Float32Array(input.length);
      for (let i = 0; i < input.length; i += 128) s.process(input.subarray(i, i + 128), out.subarray(i, i + 128));
      const f = dominant(out.subarray(rate / 4), rate); // after the first grains
      assert.ok(Math.abs(f - 440 * ratio) <= 440 * ratio * 0.03, `ratio ${ratio}: ${f} Hz, want about ${440 * ratio}`);
      const peak = out.subarray(rate / 4).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.ok(peak > 0.3 && peak < 0.75, `ratio ${ratio}: peak ${peak}`);
    }
    assert.equal(dominant(input.subarray(rate / 4), rate), 440);
    // The cost, reported and not asserted: 10 s of 48 kHz audio in 128-sample blocks.
    const s = new PitchShifter(0.8);
    const out = new Float32Array(128);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 10 * rate; i += 128) s.process(input.subarray(i % (rate - 128), (i % (rate - 128)) + 128), out);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    t.diagnostic(`pitch shifter: ${(ms / 10).toFixed(2)} ms of CPU per second of audio (${(ms / 100).toFixed(2)}% of one core)`);
  });
});
