// Injected before the console's own scripts (page.add_init_script): records
// what the page plays, says, shows and connects to, so tests can assert it.
(() => {
  const spy = (window.__spy = { chimes: [], spoken: [], notifications: [], sockets: [], frames: [] });

  // How loud a chime is: the highest gain its notes' envelopes ramp to.
  let peak = 0;
  const ramp = AudioParam.prototype.exponentialRampToValueAtTime;
  AudioParam.prototype.exponentialRampToValueAtTime = function (value, ...rest) {
    peak = Math.max(peak, value);
    return ramp.call(this, value, ...rest);
  };

  // One chime = the oscillator notes started in one synchronous run.
  let batch = null;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    if (batch === null) {
      batch = { at: Date.now(), wave: this.type, notes: [], peak: 0 };
      spy.chimes.push(batch);
      queueMicrotask(() => {
        batch = null;
        peak = 0;
      });
    }
    batch.peak = Math.max(batch.peak, peak);
    batch.notes.push(Math.round(this.frequency.value * 10) / 10);
    return start.apply(this, args);
  };

  // Record instead of speaking (headless has no voices anyway).
  speechSynthesis.speak = (u) => {
    spy.spoken.push({ text: u.text, lang: u.lang, volume: u.volume, at: Date.now() });
  };

  window.Notification = class {
    constructor(title, options = {}) {
      spy.notifications.push({ title, body: options.body, tag: options.tag });
    }
    close() {}
    static get permission() {
      return "granted";
    }
    static requestPermission() {
      return Promise.resolve("granted");
    }
  };

  // A tab the test can hide: window.__setHidden(true).
  let hidden = false;
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true,
    get: () => (hidden ? "hidden" : "visible"),
  });
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };

  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      spy.sockets.push(String(url));
      window.__socket = this;
      this.addEventListener("message", (event) => spy.frames.push(event.data));
    }
  };
})();
