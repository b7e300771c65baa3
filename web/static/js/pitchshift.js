/**
 * A pitch shifter for the voice, one sample at a time: two read taps on a
 * short delay line move through it at `ratio` times the write speed, each
 * faded in and out by a sine-squared window half a grain apart, so the
 * windows always sum to one. Pitch and formants move together by `ratio`
 * (0.8: about four semitones lower), which is what makes a voice hard to
 * recognise. Pure: no Web Audio, so node tests run it as the AudioWorklet
 * (disguise-worklet.js) does.
 * @module pitchshift
 */

/** The grain: how long each tap reads before it jumps back (samples; 21 ms at 48 kHz). */
export const GRAIN = 1024;
/** The delay line (samples, a power of two larger than GRAIN). */
const SIZE = 4096;

/** One channel's pitch shifter. */
export class PitchShifter {
  /** @param {number} ratio output pitch ÷ input pitch, 0.5..2 */
  constructor(ratio) {
    this.ratio = ratio;
    this.buf = new Float32Array(SIZE);
    this.w = 0;
    this.phase = 0;
  }

  /** Reads the delay line `d` samples behind the write position (linear interpolation). */
  tap(d) {
    const pos = this.w - d;
    const i = Math.floor(pos);
    const f = pos - i;
    const a = this.buf[i & (SIZE - 1)];
    const b = this.buf[(i + 1) & (SIZE - 1)];
    return a + (b - a) * f;
  }

  /**
   * Shifts a block in place or into `output`.
   * @param {Float32Array|null} input silence when null
   * @param {Float32Array} output the same length
   */
  process(input, output) {
    const step = (1 - this.ratio) / GRAIN;
    for (let n = 0; n < output.length; n++) {
      this.buf[this.w & (SIZE - 1)] = input ? input[n] : 0;
      this.phase += step;
      if (this.phase >= 1) this.phase -= 1;
      else if (this.phase < 0) this.phase += 1;
      const p2 = this.phase < 0.5 ? this.phase + 0.5 : this.phase - 0.5;
      const w1 = Math.sin(Math.PI * this.phase) ** 2;
      const w2 = 1 - w1; // sin²(π(p+½)) = cos²(πp)
      output[n] = this.tap(this.phase * GRAIN + 1) * w1 + this.tap(p2 * GRAIN + 1) * w2;
      this.w = (this.w + 1) | 0;
    }
  }
}
