/**
 * Before joining: choose a microphone and see its level. The preview
 * plays nothing (the level meter is connected to no output, and no room
 * audio exists before the join); the chosen stream is the one the join
 * sends, so the browser does not ask twice.
 * @module micpicker
 */

import { h, byId } from './dom.js';
import { MicLevel } from './miclevel.js';
import { VoiceDisguise } from './disguise.js';

/** How often the meter is redrawn (ms). */
const METER_EVERY_MS = 100;
/** The meter shows levels up to this (linear; speech peaks well below 1). */
const METER_FULL = 0.3;

/** The microphone choice of the join form. */
export class MicPicker {
  constructor() {
    this.testBtn = byId('mic-test');
    this.select = byId('mic-select');
    this.selectWrap = byId('mic-choice');
    this.meter = byId('mic-meter');
    this.status = byId('mic-status');
    /** @type {MediaStream|null} the previewed stream, handed to the join */
    this.stream = null;
    this.level = null;
    this.timer = 0;
    this.disguise = byId('disguise-join');
    this.previewBtn = byId('disguise-preview');
    /** @type {VoiceDisguise|null} a preview of the disguised voice, played to me only */
    this.preview = null;
    this.disguise.addEventListener('change', () => this.showPreview());
    this.previewBtn.addEventListener('click', () => this.togglePreview());
    this.testBtn.addEventListener('click', () => this.open(this.select.value || undefined));
    this.select.addEventListener('change', () => this.open(this.select.value));
  }

  /**
   * Opens a microphone (the default one, or deviceId) and shows its level.
   * @param {string} [deviceId]
   */
  async open(deviceId) {
    this.level ??= new MicLevel(); // in the click: a context made later may stay suspended
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: deviceId ? { deviceId: { exact: deviceId } } : true });
    } catch {
      this.status.textContent = "We couldn't use this microphone. Check the browser's permission.";
      return;
    }
    // The preview of the old microphone stops now, before the new stream is
    // shown: a preview started from here on belongs to the new one (stopping
    // it after the awaits below closed a preview the person had just begun).
    this.stopPreview();
    this.stopStream();
    this.stream = stream;
    const track = stream.getAudioTracks()[0];
    this.level.attach(track);
    await this.listDevices(track.getSettings().deviceId);
    // The join may have taken the stream (or another open replaced it)
    // while the devices were listed: then the form is no longer ours.
    if (this.stream !== stream) return;
    this.selectWrap.hidden = false;
    this.meter.hidden = false;
    this.testBtn.hidden = true;
    this.status.textContent = `Listening to ${track.label || 'your microphone'}. Nobody hears you until you join.`;
    this.showPreview();
    clearInterval(this.timer);
    this.timer = setInterval(() => { this.meter.value = Math.min(1, this.level.level() / METER_FULL); }, METER_EVERY_MS);
  }

  async listDevices(current) {
    const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput');
    this.select.replaceChildren(...devices.map((d, i) => h('option', { value: d.deviceId, text: d.label || `Microphone ${i + 1}` })));
    if (devices.some((d) => d.deviceId === current)) this.select.value = current;
  }

  /**
   * Gives the join its microphone: the previewed stream, or null to ask
   * at join time. The preview stops measuring; the stream lives on.
   * @returns {MediaStream|null}
   */
  take() {
    this.stopPreview();
    this.previewBtn.hidden = true;
    clearInterval(this.timer);
    this.level?.close();
    this.level = null;
    const s = this.stream;
    this.stream = null;
    this.meter.hidden = true;
    this.selectWrap.hidden = true;
    this.testBtn.hidden = false;
    this.status.textContent = '';
    return s && s.getAudioTracks().some((t) => t.readyState === 'live') ? s : null;
  }

  showPreview() {
    this.previewBtn.hidden = !(this.disguise.checked && this.stream);
    if (this.previewBtn.hidden) this.stopPreview();
  }

  /** Plays my disguised voice to me (and to nobody else: nothing is connected yet), or stops. */
  async togglePreview() {
    if (this.preview) {
      this.stopPreview();
      return;
    }
    const track = this.stream?.getAudioTracks()[0];
    if (!track) return;
    const v = new VoiceDisguise(); // in the click
    this.preview = v;
    try {
      await v.start(track);
      if (this.preview !== v) { // stopped meanwhile
        v.close();
        return;
      }
      v.preview(true);
      this.previewBtn.setAttribute('aria-pressed', 'true');
      this.previewBtn.textContent = 'Stop the preview';
    } catch {
      this.stopPreview();
      this.status.textContent = "Voice disguise isn't available in this browser.";
    }
  }

  stopPreview() {
    this.preview?.close();
    this.preview = null;
    this.previewBtn.setAttribute('aria-pressed', 'false');
    this.previewBtn.textContent = 'Hear my disguised voice';
  }

  stopStream() {
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
  }
}
