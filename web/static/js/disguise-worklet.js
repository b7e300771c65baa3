// The AudioWorklet of voice disguise: the microphone in, the shifted voice
// out, before anything reaches the PeerConnection (see disguise.js).
import { PitchShifter } from './pitchshift.js';

class VoiceDisguiseProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.ratio = options?.processorOptions?.ratio ?? 0.8;
    this.shifters = [];
    this.port.onmessage = (e) => {
      if (typeof e.data?.ratio === 'number') {
        this.ratio = e.data.ratio;
        for (const s of this.shifters) s.ratio = this.ratio;
      }
    };
  }

  process(inputs, outputs) {
    const input = inputs[0] ?? [];
    const output = outputs[0] ?? [];
    for (let c = 0; c < output.length; c++) {
      this.shifters[c] ??= new PitchShifter(this.ratio);
      this.shifters[c].process(input[c] ?? input[0] ?? null, output[c]);
    }
    return true;
  }
}

registerProcessor('voice-disguise', VoiceDisguiseProcessor);
