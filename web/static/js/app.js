/**
 * The entry point: wires the join form, the protocol client, the room view,
 * the host panel and the slot audio together. Tests read
 * `window.sanctuary` (the client, the protocol counters, the slots log).
 * @module app
 */

import { byId, h } from './dom.js';
import { SanctuaryClient, counters, preconnect } from './protocol.js';
import { describeError } from './errors.js';
import { describeEvent } from './notify.js';
import { Announcer } from './announce.js';
import { SlotAudio } from './audio.js';
import { RoomView } from './ui.js';
import { HostPanel } from './panel.js';
import { JoinForm } from './join.js';
import { ChatPanel } from './chat.js';
import { SelfControls } from './controls.js';
import { MicLevel } from './miclevel.js';
import { VoiceDisguise } from './disguise.js';

/** Levels above this count as speaking (linear audio level, 0..1). */
const SPEAKING_LEVEL = 0.02;
/** How often the speaking indicators are refreshed (ms). */
const SPEAKING_EVERY_MS = 300;
/** Entries kept in window.sanctuary.slotLog. */
const SLOT_LOG_MAX = 500;

const announcer = new Announcer(byId('announce-polite'), byId('announce-urgent'), byId('activity'));
const view = new RoomView();
const panel = new HostPanel({ say: (t, o) => announcer.say(t, o), fail: showFailure, confirm });
const chat = new ChatPanel({ say: (t, o) => announcer.say(t, o), fail: showFailure });
const controls = new SelfControls({ say: (t, o) => announcer.say(t, o), fail: showFailure, setMic });
const audio = new SlotAudio(byId('audio-sink'), () => { byId('sound-button').hidden = false; });
const join = new JoinForm(start);

/** What tests and developers may inspect. */
const exposed = { counters, client: null, slotLog: [], chat };
window.sanctuary = exposed;

/** @type {SanctuaryClient|null} */
let client = null;
let timers = [];
/** My microphone's level measured in the page, where the statistics have none (Firefox). */
let meter = null;
/** `?level=mic` measures my own level in the page in every browser (for tests and diagnosis). */
const METER_ALWAYS = new URLSearchParams(location.search).get('level') === 'mic';
/** @type {VoiceDisguise|null} the disguise graph while my voice is disguised */
let voice = null;
/** @type {MediaStreamTrack|null} my microphone itself (what the disguise takes in) */
let rawTrack = null;
/** Whether I was the host when last seen: the end view then shows the session's statistics. */
let wasHost = false;

/** This server's websocket URL. */
function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

function start({ token, session, alias, microphone, disguise }) {
  // Made now, in the click that joins: an AudioContext made later may stay suspended.
  voice = disguise ? new VoiceDisguise() : null;
  rawTrack = null;
  // The microphone chosen and tested on the join form, if any, else the
  // browser's default; with disguise on, only the disguised track is given
  // to the PeerConnection, from the first packet on.
  const getMicrophone = async () => {
    const stream = microphone ?? (await navigator.mediaDevices.getUserMedia({ audio: true }));
    rawTrack = stream.getAudioTracks()[0] ?? null;
    if (!voice || !rawTrack) return stream;
    try {
      return new MediaStream([await voice.start(rawTrack)]);
    } catch (err) {
      rawTrack.stop(); // fail closed: never the real voice instead
      throw err;
    }
  };
  client = new SanctuaryClient({ url: wsUrl(), token, session, alias, getMicrophone });
  showDisguise();
  exposed.client = client;
  view.reset();
  panel.attach(client);
  chat.attach(client);
  controls.attach(client);
  byId('activity').replaceChildren();
  listen(client);
  // The join first, then the page.
  client.start();
  join.show(false);
  byId('end-view').hidden = true;
  byId('room-view').hidden = false;
  // Focus moves to the room's name in the next frame: focusing now would
  // lay the room view out in the click, before the welcome can be handled,
  // and the frame would lay it out again.
  requestAnimationFrame(() => {
    if (!byId('room-view').hidden) byId('room-name').focus();
  });
  meter?.close();
  meter = new MicLevel(); // now, in the click that joins: a context made later may stay suspended
  client.mic.then((track) => meter?.attach(rawTrack ?? track)); // my level is my microphone's
  timers = [
    setInterval(() => { view.tick(); panel.tick(); }, 1000),
    setInterval(() => pollSpeaking(client), SPEAKING_EVERY_MS),
  ];
}

function listen(c) {
  c.addEventListener('status', (e) => {
    view.setStatus(e.detail.status);
    if (e.detail.status === 'connected') view.showError('');
  });
  c.addEventListener('retry', (e) => {
    const s = Math.max(1, Math.round(e.detail.delayMs / 1000));
    view.setStatus(c.status, `next try in ${s} s`);
  });
  c.addEventListener('state', () => render(c));
  c.addEventListener('event', (e) => {
    controls.onEvent(e.detail);
    const n = describeEvent(e.detail, c.state, c.participantId);
    if (!n) return;
    if (n.banner) view.showBanner(`Message from the host: ${n.banner}`);
    announcer.say(n.text, n);
  });
  c.addEventListener('slots', (e) => {
    exposed.slotLog.push({ at: Date.now(), slots: [...e.detail.slots] });
    if (exposed.slotLog.length > SLOT_LOG_MAX) exposed.slotLog.shift();
  });
  c.addEventListener('tracks', (e) => audio.attach(e.detail.tracks));
  c.addEventListener('problem', (e) => {
    const text = describeError(e.detail.code).text;
    view.showError(text);
    announcer.say(text, { quiet: true });
  });
  c.addEventListener('reaction', (e) => {
    const who = c.state.label(e.detail.participantId) || 'Someone';
    announcer.say(`${who} reacted ${e.detail.emoji}`, { quiet: true });
    controls.showReaction(e.detail);
  });
  c.addEventListener('closed', (e) => ended(e.detail.code));
}

function render(c) {
  const { roomChanged, roomName } = view.render(c);
  const me = c.state.participant(c.participantId);
  const staff = me?.role === 'host' || me?.role === 'moderator';
  panel.show(staff);
  // Staff see everyone on the board (their own room too): no second list.
  byId('people-card').hidden = staff;
  document.body.classList.toggle('staff', staff);
  if (staff) panel.render();
  chat.render();
  controls.render();
  if (me) wasHost = me.role === 'host';
  if (roomChanged) view.showBanner('');
  document.title = `${roomName} · Sanctuary`;
}

async function pollSpeaking(c) {
  if (c !== client || !c.pc) return;
  let stats;
  try {
    stats = await c.slotStats();
  } catch {
    return;
  }
  const prev = pollSpeaking.prev ?? new Map();
  const ids = new Set();
  for (const s of stats.slots) {
    const grew = s.packetsReceived > (prev.get(s.mid) ?? 0);
    prev.set(s.mid, s.packetsReceived);
    if (grew && s.participant && s.audioLevel > SPEAKING_LEVEL) ids.add(s.participant);
  }
  pollSpeaking.prev = prev;
  const self = selfLevel(stats);
  if (c.micEnabled && self.level > SPEAKING_LEVEL) ids.add(c.participantId);
  view.setSpeaking(ids);
  panel.setSpeaking(ids);
}

/**
 * My own level: from the statistics when they have it (Chromium), else
 * measured from the microphone (Firefox).
 * @returns {{level: number, source: 'stats'|'mic'}}
 */
function selfLevel(stats) {
  if (stats.self !== null && !METER_ALWAYS) return { level: stats.self, source: 'stats' };
  return { level: meter?.level() ?? 0, source: 'mic' };
}
exposed.selfLevel = async () => {
  const stats = client ? await client.slotStats() : { self: null };
  return { ...selfLevel(stats), contextState: meter?.ctx?.state ?? 'none' };
};

function ended(code) {
  for (const t of timers) clearInterval(t);
  timers = [];
  audio.clear();
  voice?.close();
  voice = null;
  rawTrack?.stop();
  meter?.close();
  meter = null;
  pollSpeaking.prev = null;
  byId('room-view').hidden = true;
  const left = code === 'left';
  byId('end-title').textContent = left ? 'You have left' : 'You are no longer connected';
  byId('end-text').textContent = left ? 'Thank you for being here. Take care of yourself.' : describeError(code).text;
  byId('end-stats').hidden = true;
  if (code === 'session_ended' && wasHost) showStats(client);
  byId('end-view').hidden = false;
  byId('end-title').focus();
  view.setStatus('closed');
}

/** Words for the statistics of GET /api/v1/sessions/{id}/stats. */
const STAT_WORDS = [
  ['peakParticipants', 'Most people at once'], ['totalJoins', 'Joins'], ['breakoutsCreated', 'Breakout rooms opened'],
  ['moves', 'Moves between rooms'], ['removals', 'People removed'],
];

/** Shows the ended session's statistics (kept by the server after the end) to the host. */
async function showStats(c) {
  const session = c.opts.session || c.state.session;
  try {
    const res = await fetch(`/api/v1/sessions/${encodeURIComponent(session)}/stats`, {
      headers: { Authorization: `Bearer ${c.opts.token}` },
    });
    if (!res.ok) return;
    const st = await res.json();
    const dl = byId('end-stats');
    const rows = STAT_WORDS.map(([k, words]) => [words, String(st[k] ?? 0)]);
    if (st.created && st.ended) rows.unshift(['Length', `${Math.max(1, Math.round((st.ended - st.created) / 60))} min`]);
    dl.replaceChildren(...rows.flatMap(([dt, dd]) => [h('dt', { text: dt }), h('dd', { text: dd })]));
    dl.hidden = false;
  } catch {
    // no statistics: the end view says enough
  }
}

function showFailure(err) {
  const text = err?.text ?? describeError(err?.code ?? '').text;
  view.showError(text);
  announcer.say(text, { urgent: true });
}

/**
 * Asks a yes/no question in a modal dialog.
 * @param {string} question
 * @param {string} yes the label of the confirming button
 * @returns {Promise<boolean>}
 */
function confirm(question, yes) {
  const dialog = byId('confirm-dialog');
  byId('confirm-text').textContent = question;
  byId('confirm-ok').textContent = yes;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

/**
 * Turns my microphone on or off (muted, the page sends nothing: client.setMicEnabled).
 * @param {boolean} enabled
 */
function setMic(enabled) {
  if (!client) return;
  client.setMicEnabled(enabled);
  view.setMuted(!enabled);
  announcer.say(enabled ? 'Your microphone is on.' : 'Your microphone is muted.');
}

byId('mute-button').addEventListener('click', () => setMic(!client?.micEnabled));

function showDisguise() {
  const b = byId('disguise-button');
  b.setAttribute('aria-pressed', String(!!voice));
  b.textContent = voice ? 'Use my real voice' : 'Disguise my voice';
}

/** Turns voice disguise on or off during the session: one replaceTrack, no renegotiation. */
byId('disguise-button').addEventListener('click', async () => {
  if (!client || !rawTrack) return;
  const c = client;
  if (voice) {
    const old = voice;
    voice = null;
    await c.replaceMicTrack(rawTrack);
    old.close();
    announcer.say('Others hear your real voice again.');
  } else {
    const v = new VoiceDisguise(); // in the click
    try {
      const track = await v.start(rawTrack);
      await c.replaceMicTrack(track);
      voice = v;
      announcer.say('Your voice is disguised.');
    } catch {
      v.close();
      showFailure({ text: "Voice disguise isn't available in this browser." });
    }
  }
  showDisguise();
});
byId('hand-button').addEventListener('click', () => {
  const me = client?.state.participant(client.participantId);
  if (me) client.command('hand', { enabled: !me.handRaised }).catch(showFailure);
});
byId('leave-button').addEventListener('click', () => client?.leave());
byId('sound-button').addEventListener('click', (e) => {
  audio.resume();
  e.currentTarget.hidden = true;
});
byId('rejoin-button').addEventListener('click', () => {
  byId('end-view').hidden = true;
  join.show(true);
});

join.init();

// The websocket opens while the person is on the join form, so the Join
// click does not wait for it (protocol.js, preconnect): at once, and again
// at each sign of a coming join once that socket has expired.
const warmUp = () => {
  if (!byId('join-view').hidden) preconnect(wsUrl());
};
for (const type of ['pointerover', 'pointerdown', 'focusin', 'keydown', 'input']) {
  byId('join-form').addEventListener(type, warmUp, { passive: true });
}
warmUp();
