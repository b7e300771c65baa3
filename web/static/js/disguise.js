/**
 * Voice disguise: the microphone goes through an AudioWorklet that shifts
 * pitch and formants (pitchshift.js) and only the shifted voice is given to
 * the PeerConnection, so the real voice never leaves the device. Fails
 * closed: if the worklet cannot run, no track is given (nothing is sent),
 * never the undisguised voice.
 * @module disguise
 */

/** The default shift: about four semitones lower. */
export const DEFAULT_RATIO = 0.8;

/** One disguise graph: microphone → worklet → a new track. */
export class VoiceDisguise {
  /**
   * Creates the AudioContext at once: call it from a click (a user
   * gesture), or browsers keep the context suspended.
   * @param {number} [ratio]
   */
  constructor(ratio = DEFAULT_RATIO) {
    this.ratio = ratio;
    this.ctx = new AudioContext();
    this.node = null;
    this.source = null;
    this.previewing = false;
    this.ctx.resume().catch(() => {});
  }

  /**
   * Builds the graph for a microphone track.
   * @param {MediaStreamTrack} raw the microphone
   * @returns {Promise<MediaStreamTrack>} the disguised track to send
   * @throws when the worklet cannot be loaded (send nothing then)
   */
  async start(raw) {
    await this.ctx.audioWorklet.addModule(new URL('./disguise-worklet.js', import.meta.url));
    this.source = this.ctx.createMediaStreamSource(new MediaStream([raw]));
    this.node = new AudioWorkletNode(this.ctx, 'voice-disguise', {
      numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { ratio: this.ratio },
    });
    const dest = this.ctx.createMediaStreamDestination();
    this.source.connect(this.node).connect(dest);
    this.ctx.resume().catch(() => {});
    this.track = dest.stream.getAudioTracks()[0];
    return this.track;
  }

  /**
   * Plays the disguised voice to my own speakers, or stops (a preview).
   * @param {boolean} on
   */
  preview(on) {
    if (!this.node || on === this.previewing) return;
    this.previewing = on;
    if (on) this.node.connect(this.ctx.destination);
    else this.node.disconnect(this.ctx.destination);
  }

  /** Stops the graph and the disguised track (the microphone track is the caller's). */
  close() {
    this.track?.stop();
    this.source?.disconnect();
    this.node?.disconnect();
    this.ctx.close().catch(() => {});
  }
}
