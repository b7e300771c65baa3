/**
 * Tells people what happened: a visible activity log, and aria-live regions
 * so screen readers hear it too.
 * @module announce
 */

import { h } from './dom.js';

/** Keeps at most this many lines in the activity log. */
const MAX_LOG = 50;

/** Announces events to screen readers and writes them to the activity log. */
export class Announcer {
  /**
   * @param {HTMLElement} polite  an aria-live="polite" region
   * @param {HTMLElement} urgent  an aria-live="assertive" region
   * @param {HTMLElement} log     a list shown as "Activity"
   */
  constructor(polite, urgent, log) {
    this.polite = polite;
    this.urgent = urgent;
    this.log = log;
  }

  /**
   * Announces one line.
   * @param {string} text
   * @param {{urgent?: boolean, quiet?: boolean}} [o] urgent: assertive; quiet: log only
   */
  say(text, o = {}) {
    const now = new Date();
    const stamp = now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    this.log.prepend(h('li', {}, h('time', { datetime: now.toISOString(), text: stamp }), text));
    while (this.log.children.length > MAX_LOG) this.log.lastElementChild.remove();
    if (o.quiet) return;
    const region = o.urgent ? this.urgent : this.polite;
    // Clear first so the same sentence twice is announced twice.
    region.textContent = '';
    setTimeout(() => { region.textContent = text; }, 50);
  }
}
