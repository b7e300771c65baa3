/**
 * The level of my own microphone, measured in the page: an AnalyserNode on
 * the microphone track, connected to nothing else (nothing is heard). It
 * stands in where the browser's statistics give no level for the local
 * track (Firefox: its `media-source` stats have no `audioLevel`), and it
 * drives the level meter of the join form.
 * @module miclevel
 */

/** Samples per measurement (about 21 ms at 48 kHz). */
const FFT_SIZE = 1024;
/**
 * How often the level is sampled between two readings (ms): about one
 * measurement window, so short sounds between readings are not missed.
 * (An analyser holding a whole polling interval instead, 16384 samples,
 * kept Chromium from starting another page's AudioWorklet.)
 */
const SAMPLE_EVERY_MS = 20;

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
    this.peak = 0; // the loudest sample window since the last reading
    this.timer = null;
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
    this.timer ??= setInterval(() => { this.peak = Math.max(this.peak, this.sample()); }, SAMPLE_EVERY_MS);
  }

  /** Whether levels are being measured (the context runs and has a track). */
  get running() {
    return !!this.source && this.ctx?.state === 'running';
  }

  /** The RMS of the last FFT_SIZE samples, 0..1; 0 when not running. */
  sample() {
    if (!this.running) return 0;
    this.analyser.getFloatTimeDomainData(this.buf);
    let sum = 0;
    for (const v of this.buf) sum += v * v;
    return Math.sqrt(sum / this.buf.length);
  }

  /**
   * The level: the loudest ~21 ms window since the last reading, as RMS,
   * 0..1 (the scale of the statistics' audioLevel, which also holds a peak
   * for a while); 0 when not running. A single window per reading would
   * miss short sounds: Chromium's fake microphone beeps 20 ms in every
   * 500 ms, and readings every 300 ms could keep falling between beeps.
   * @returns {number}
   */
  level() {
    const now = Math.max(this.peak, this.sample());
    this.peak = 0;
    return now;
  }

  /** Stops measuring and closes the context. */
  close() {
    clearInterval(this.timer);
    this.timer = null;
    this.source?.disconnect();
    this.source = null;
    this.ctx?.close().catch(() => {});
    this.ctx = null;
  }
}
