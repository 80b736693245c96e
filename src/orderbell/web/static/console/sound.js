// Alert sounds made on the spot with the Web Audio API (no sound files), and
// the spoken line after them (speechSynthesis).

// [frequency Hz, start s, length s] of each note. The two alerts must be told
// apart by ear: a rising three-note chime for a new order, a fast two-tone
// alarm for a reminder.
export const CHIMES = Object.freeze({
  order: { wave: "sine", notes: [[880, 0, 0.22], [1318.51, 0.22, 0.22], [1760, 0.44, 0.5]] },
  reminder: {
    wave: "triangle",
    notes: [[1174.66, 0, 0.12], [783.99, 0.14, 0.12], [1174.66, 0.28, 0.12], [783.99, 0.42, 0.2]],
  },
  // Played once when sound is switched on, so the user hears that it works.
  check: { wave: "sine", notes: [[659.25, 0, 0.18]] },
});

/** Sound output: off until enable() runs inside a user gesture (the browser's rule). */
export class Sound {
  constructor({ volume, muted }) {
    this.volume = volume;
    this.muted = muted;
    this.context = null;
    this.master = null;
    this.freeAt = 0;
    this.listeners = new Set();
    this.players = new Set();
  }

  /** "on", "off" (not yet allowed by the browser) or "muted". */
  get state() {
    if (this.muted) return "muted";
    return this.context && this.context.state === "running" ? "on" : "off";
  }

  get ready() {
    return Boolean(this.context && this.context.state === "running");
  }

  onChange(listener) {
    this.listeners.add(listener);
  }

  /** Call `listener(kind)` each time a chime really plays; returns a function that stops it. */
  onPlay(listener) {
    this.players.add(listener);
    return () => this.players.delete(listener);
  }

  changed() {
    for (const listener of this.listeners) listener(this.state);
  }

  /** Create or wake the audio context; call from a click or key press. */
  async enable() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return false;
    if (!this.context) {
      this.context = new Context();
      this.master = this.context.createGain();
      this.master.gain.value = this.volume;
      this.master.connect(this.context.destination);
      this.context.addEventListener("statechange", () => this.changed());
    }
    if (this.context.state !== "running") {
      try {
        await this.context.resume();
      } catch {
        /* still blocked: the state stays "off" and the page keeps asking */
      }
    }
    this.changed();
    return this.ready;
  }

  setVolume(volume) {
    this.volume = volume;
    if (this.master) this.master.gain.setValueAtTime(volume, this.context.currentTime);
  }

  setMuted(muted) {
    this.muted = muted;
    if (muted && window.speechSynthesis) window.speechSynthesis.cancel();
    this.changed();
  }

  /** Play a chime of CHIMES; returns its length in ms (0 when nothing could play). */
  chime(kind) {
    const chime = CHIMES[kind];
    if (!chime || this.muted || !this.ready) return 0;
    // Chimes of alerts that come together play one after the other, not on top
    // of each other; their spoken lines then also keep the alerts' order.
    const now = this.context.currentTime;
    const start = Math.max(now + 0.02, this.freeAt);
    let end = 0;
    for (const [frequency, offset, length] of chime.notes) {
      const osc = this.context.createOscillator();
      const envelope = this.context.createGain();
      osc.type = chime.wave;
      osc.frequency.value = frequency;
      // A short attack and an exponential fade: a bell, not a click.
      envelope.gain.setValueAtTime(0.0001, start + offset);
      envelope.gain.exponentialRampToValueAtTime(0.9, start + offset + 0.015);
      envelope.gain.exponentialRampToValueAtTime(0.0001, start + offset + length);
      osc.connect(envelope).connect(this.master);
      osc.start(start + offset);
      osc.stop(start + offset + length + 0.02);
      end = Math.max(end, offset + length);
    }
    this.freeAt = start + end + 0.08;
    for (const listener of this.players) listener(kind);
    return Math.round((start + end - now) * 1000) + 40;
  }

  /** Say `text` in `lang` (a BCP 47 tag) unless muted. */
  speak(text, lang) {
    const synth = window.speechSynthesis;
    if (this.muted || !synth || typeof SpeechSynthesisUtterance === "undefined") return;
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = lang;
    utterance.volume = this.volume;
    utterance.rate = 1;
    synth.speak(utterance);
  }

  /** The chime of `kind`, then the spoken line once it has rung out. */
  announce(kind, text, lang) {
    if (this.muted) return;
    const length = this.chime(kind);
    setTimeout(() => this.speak(text, lang), length);
  }
}
