/**
 * The level of my own microphone, measured in the page: an AnalyserNode on
 * the microphone track, connected to nothing else (nothing is heard). It
 * stands in where the browser's statistics give no level for the local
 * track (Firefox: its `media-source` stats have no `audioLevel`), and it
 * drives the level meter of the join form.
 * @module miclevel
 */

/** Samples kept by the analyser: about 340 ms at 48 kHz, more than the
 * speaking indicators' polling interval, so a poll sees everything since
 * the one before. */
const FFT_SIZE = 16384;
/** Samples per level measurement: about 21 ms at 48 kHz. */
const CHUNK = 1024;

/** A microphone level meter on one AudioContext. */
export class MicLevel {
  /**
   * Creates the AudioContext at once: call it from a click (a user
   * gesture), or browsers keep the context suspended.
   */
  constructor() {
    const AC = globalThis.AudioContext ?? globalThis.webkitAudioContext;
    /** @type {AudioContext|null} */
    this.ctx = AC ? new AC() : null;
    this.analyser = null;
    this.source = null;
    this.buf = new Float32Array(FFT_SIZE);
    this.ctx?.resume().catch(() => {});
  }

  /**
   * Measures this track from now on (replacing the one before).
   * @param {MediaStreamTrack|null} track
   */
  attach(track) {
    this.source?.disconnect();
    this.source = null;
    if (!this.ctx || !track) return;
    if (!this.analyser) {
      this.analyser = this.ctx.createAnalyser();
      this.analyser.fftSize = FFT_SIZE;
    }
    this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
    this.source.connect(this.analyser); // and to nothing else: the meter is silent
    this.ctx.resume().catch(() => {});
  }

  /** Whether levels are being measured (the context runs and has a track). */
  get running() {
    return !!this.source && this.ctx?.state === 'running';
  }

  /**
   * The level now: the loudest CHUNK of the last FFT_SIZE samples, as RMS,
   * 0..1 (the scale of the statistics' audioLevel, which also holds a peak
   * for a while); 0 when not running. One 21 ms snapshot per poll would
   * miss short sounds: Chromium's fake microphone beeps 20 ms in every
   * 500 ms, and polls every 300 ms can keep falling between the beeps.
   * @returns {number}
   */
  level() {
    if (!this.running) return 0;
    this.analyser.getFloatTimeDomainData(this.buf);
    let loudest = 0;
    for (let at = 0; at < this.buf.length; at += CHUNK) {
      let sum = 0;
      for (let i = at; i < at + CHUNK; i++) sum += this.buf[i] * this.buf[i];
      loudest = Math.max(loudest, sum / CHUNK);
    }
    return Math.sqrt(loudest);
  }

  /** Stops measuring and closes the context. */
  close() {
    this.source?.disconnect();
    this.source = null;
    this.ctx?.close().catch(() => {});
    this.ctx = null;
  }
}
