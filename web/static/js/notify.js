/**
 * Session events in plain words, for the activity log and screen readers.
 * Pure: no DOM.
 * @module notify
 */

import { MAIN_ROOM } from './state.js';
import { inWords } from './dom.js';

/**
 * @typedef {object} Notice
 * @property {string} text
 * @property {boolean} [urgent] announce assertively
 * @property {boolean} [quiet]  write to the log only
 * @property {string} [banner]  show as a message from the host
 */

const STAFF = new Set(['host', 'moderator']);

/**
 * Describes one applied event for the person `meId`, or returns null when it
 * is not worth telling them.
 * @param {object} ev the wire event
 * @param {import('./state.js').SessionState} st the state after the event
 * @param {string} meId my participant id
 * @param {number} [now] the time (unix ms), for countdowns
 * @returns {Notice|null}
 */
export function describeEvent(ev, st, meId, now = Date.now()) {
  const me = st.participant(meId);
  const myRoom = me?.room || MAIN_ROOM;
  const staff = STAFF.has(me?.role);
  const p = ev.participant;
  const alias = (p && st.label?.(p.id)) || p?.alias || 'Someone';
  const isMe = p?.id === meId;
  switch (ev.event) {
    case 'participant.joined':
      if (isMe) return null;
      return { text: `${alias} joined.`, quiet: p.room !== myRoom };
    case 'participant.left':
      return { text: `${alias} left.`, quiet: p.room !== myRoom };
    case 'participant.removed':
      return { text: `${alias} was removed by the host.`, quiet: p.room !== myRoom };
    case 'participant.moved':
      if (isMe) return { text: `You are now in ${st.roomName(p.room)}.` };
      if (p.room === myRoom) return { text: `${alias} joined this room.` };
      if (ev.fromRoom === myRoom) return { text: `${alias} went to ${st.roomName(p.room)}.` };
      return { text: `${alias} moved to ${st.roomName(p.room)}.`, quiet: true };
    case 'participant.updated':
      return updated(ev, alias, isMe, staff, p?.room === myRoom);
    case 'breakouts.created': {
      const names = (ev.rooms ?? []).map((r) => r.name).join(', ');
      return { text: `Breakout rooms opened: ${names}.`, quiet: !staff };
    }
    case 'breakouts.assigned': {
      const mine = (ev.moves ?? []).find((m) => m.id === meId);
      if (mine) return { text: `You are now in ${st.roomName(mine.room)}.` };
      return { text: 'People were assigned to breakout rooms.', quiet: !staff };
    }
    case 'breakouts.closed':
      if (st.rooms.length === 0) return { text: 'Breakout rooms closed. Everyone is back in the main room.' };
      return { text: `${(ev.rooms ?? []).map((r) => r.name).join(', ')} closed.`, quiet: !staff };
    case 'breakouts.closing': {
      const left = inWords((ev.closingAt - now) / 1000);
      const inRoom = myRoom !== MAIN_ROOM;
      return { text: `All breakout rooms close in ${left}.${inRoom ? ' Please start wrapping up.' : ''}`, urgent: inRoom };
    }
    case 'breakouts.closing.cancelled':
      return { text: 'Closing the breakout rooms was cancelled.' };
    case 'breakouts.warning': {
      const r = (ev.rooms ?? [])[0];
      if (!r || (!staff && r.id !== myRoom)) return null;
      return { text: `${r.name} closes in about a minute.`, urgent: r.id === myRoom };
    }
    case 'broadcast':
      return { text: `Message from the host: ${ev.message}`, banner: ev.message };
    case 'unmute.requested':
      return isMe ? { text: 'The host asks whether you would like to unmute.' } : null;
    case 'alert':
      if (!staff || !p) return null;
      return { text: `${alias} (${st.roomName(ev.room)}) needs help now${ev.message ? `: ${ev.message}` : '.'}`, urgent: true };
    case 'breakouts.selfselect':
      return { text: ev.selfSelect ? 'You may now choose a breakout room.' : 'Choosing rooms is closed.', quiet: staff };
    default:
      return null;
  }
}

function updated(ev, alias, isMe, staff, sameRoom) {
  const p = ev.participant;
  switch (ev.change) {
    case 'muted':
      if (isMe) return { text: p.muted ? 'The host muted you for everyone.' : 'The host unmuted you.', urgent: true };
      return { text: `${alias} was ${p.muted ? 'muted' : 'unmuted'} for everyone.`, quiet: !staff };
    case 'hand':
      if (isMe) return { text: p.handRaised ? 'Your hand is raised.' : 'Your hand is lowered.', quiet: !ev.actor || ev.actor === p.id };
      return { text: `${alias} ${p.handRaised ? 'raised' : 'lowered'} their hand.`, quiet: !(staff && p.handRaised) && !sameRoom };
    case 'role':
      return { text: isMe ? `You are now ${p.role === 'moderator' ? 'a moderator' : 'a participant'}.` : `${alias} is now a ${p.role}.`, quiet: !isMe };
    case 'state':
      if (p.state === 'reconnecting' && !isMe) return { text: `${alias} lost their connection; waiting for them.`, quiet: !sameRoom };
      return null;
    default:
      return null;
  }
}
