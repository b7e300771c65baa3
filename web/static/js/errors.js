/**
 * Error codes of the signaling protocol (signaling/PROTOCOL.md) in plain
 * words for the person in front of the screen. Pure: no DOM.
 * @module errors
 */

/**
 * @typedef {object} Described
 * @property {string} text   what to tell the person
 * @property {boolean} fatal the client must not reconnect on its own
 */

/** @type {Record<string, Described>} */
const WORDS = {
  token_expired: { fatal: true, text: 'Your invitation has expired. Ask the host for a new link.' },
  token_invalid: { fatal: true, text: 'This invitation link is not valid. Ask the host for a new one.' },
  wrong_session: { fatal: true, text: 'This invitation is for a different session.' },
  session_not_found: { fatal: true, text: 'This session could not be found. It may have finished.' },
  session_ended: { fatal: true, text: 'This session has ended. Thank you for being here.' },
  session_full: { fatal: true, text: 'This session is full right now.' },
  removed: { fatal: true, text: 'The host removed you from this session.' },
  replaced: { fatal: true, text: 'You joined from another window or device, so this one has stopped.' },
  room_full: { fatal: false, text: 'That room is full.' },
  forbidden: { fatal: false, text: 'You are not allowed to do that.' },
  not_found: { fatal: false, text: 'That person or room is no longer here.' },
  invalid: { fatal: false, text: 'That request was not valid.' },
  rate_limited: { fatal: false, text: 'Too many actions at once. Please wait a moment.' },
  unreachable: { fatal: false, text: "We can't reach the server. Check your connection; we keep trying." },
  disconnected: { fatal: false, text: 'The connection dropped. Reconnecting…' },
  timeout: { fatal: false, text: 'The server did not answer in time. Please try again.' },
  shutting_down: { fatal: false, text: 'The server is restarting. Reconnecting…' },
  ice_failed: { fatal: false, text: 'The audio connection failed. Reconnecting…' },
  microphone: { fatal: false, text: "We couldn't use your microphone. You can still listen." },
  internal: { fatal: false, text: 'Something went wrong on the server. Reconnecting…' },
  renegotiation_unsupported: { fatal: false, text: 'The audio connection was already set up.' },
  no_token: { fatal: true, text: 'You need an invitation link from your host to join.' },
};

/**
 * Describes an error code in plain words. Unknown codes get a generic
 * sentence (the server's own message is for developers, not shown).
 * @param {string} code a protocol error code, or a client code (unreachable, microphone…)
 * @returns {Described}
 */
export function describeError(code) {
  return WORDS[code] ?? { fatal: false, text: 'Something went wrong. Please try again.' };
}

/**
 * Reports whether an error code ends the client's attempts to stay
 * connected (the person must act: get a new link, or they were removed).
 * @param {string} code
 * @returns {boolean}
 */
export function isFatal(code) {
  return describeError(code).fatal;
}
