/**
 * Plays the K downstream slots: one <audio> element per slot, created once
 * and kept. A `slots` message (a slot changing source) never touches them:
 * the server keeps each slot one continuous RTP stream, so the element just
 * plays on with no gap. Elements are not muted (a muted element also stops
 * the audio level statistics). A new join (after a reconnect) brings new
 * tracks, set on the same elements.
 * @module audio
 */

/** One <audio> element per downstream slot. */
export class SlotAudio {
  /**
   * @param {HTMLElement} container where the elements live (kept invisible)
   * @param {() => void} onBlocked called when the browser refuses to autoplay
   */
  constructor(container, onBlocked) {
    this.container = container;
    this.onBlocked = onBlocked;
    /** @type {HTMLAudioElement[]} */
    this.elements = [];
  }

  /**
   * Plays slot i's track on element i, creating only the elements missing.
   * @param {(MediaStreamTrack|null)[]} tracks in slot order
   */
  attach(tracks) {
    tracks.forEach((track, i) => {
      let el = this.elements[i];
      if (!el) {
        el = document.createElement('audio');
        el.autoplay = true;
        el.dataset.slot = String(i);
        this.container.append(el);
        this.elements[i] = el;
      }
      const current = el.srcObject?.getAudioTracks?.()[0];
      if (track && current !== track) {
        el.srcObject = new MediaStream([track]);
        this.play(el);
      }
    });
  }

  /** Starts every element again (after a click, when autoplay was blocked). */
  resume() {
    for (const el of this.elements) this.play(el);
  }

  play(el) {
    el.play().catch((err) => {
      if (err?.name === 'NotAllowedError') this.onBlocked();
    });
  }

  /** Stops playback and drops the tracks (on leave). */
  clear() {
    for (const el of this.elements) {
      el.pause();
      el.srcObject = null;
    }
  }
}
