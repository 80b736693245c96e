// The console's end of /ws/{sid} (docs/protocol.md, protocol 2): connect,
// resume from the last seq seen, reconnect with backoff, drop duplicates.

export const CLOSE_BAD_REQUEST = 4400;
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_FORBIDDEN = 4403;
const CLOSE_BY_US = 4000;

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
// Failed attempts in a row after which the link counts as "offline", not just reconnecting.
const OFFLINE_AFTER = 4;
// The server pings every `heartbeat` seconds; silence for this many heartbeats means a dead link.
const SILENT_HEARTBEATS = 2.5;

/** Exponential backoff with jitter: half fixed, half random, so consoles do not reconnect in step. */
export function backoffDelay(attempt, first = FIRST_DELAY_MS, max = MAX_DELAY_MS) {
  const ceiling = Math.min(max, first * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * One shop's alert stream.
 *
 * handlers: status({state, attempt, retryAt}), hello(frame, {first}),
 * reset(frame), alert(frame), synced(frame), handled(frame), seq(lastSeq),
 * refused(closeCode), presence(frame), shopStatus(frame), webhookDisabled(frame). States: connecting,
 * connected, reconnecting, offline. `params` are added to the socket's URL
 * (deviceId, kind).
 */
export class AlertStream {
  constructor({ base, token, sid, lastSeq = null, params = {}, handlers }) {
    this.base = base;
    this.token = token;
    this.sid = sid;
    this.params = params;
    this.lastSeq = Number.isInteger(lastSeq) ? lastSeq : null;
    this.handlers = handlers;
    this.socket = null;
    this.failures = 0;
    this.everConnected = false;
    this.stopped = true;
    this.retryTimer = null;
    this.watchdog = null;
    this.silenceMs = null;
    this.onOnline = () => {
      if (this.retryTimer !== null) this.retryNow();
    };
    this.onOffline = () => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) this.report("offline");
    };
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.connect();
  }

  /** Close for good (logout): no more reconnects, no more handler calls. */
  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.drop();
  }

  url() {
    const url = new URL(`ws/${encodeURIComponent(this.sid)}`, this.base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", this.token);
    url.searchParams.set("protocol", "2");
    for (const [name, value] of Object.entries(this.params)) {
      if (value) url.searchParams.set(name, String(value));
    }
    if (this.lastSeq !== null) url.searchParams.set("since", String(this.lastSeq));
    return url.toString();
  }

  connect() {
    this.retryTimer = null;
    if (this.stopped) return;
    if (this.failures >= OFFLINE_AFTER) this.report("offline");
    else this.report(this.everConnected || this.failures > 0 ? "reconnecting" : "connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.onmessage = (event) => {
      if (this.socket === socket) this.receive(event.data);
    };
    socket.onclose = (event) => {
      if (this.socket === socket) this.closed(event.code);
    };
  }

  receive(text) {
    this.armWatchdog();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    if (typeof frame.type === "number") {
      this.receiveAlert(frame);
      return;
    }
    switch (frame.type) {
      case "hello":
        this.failures = 0;
        if (Number.isFinite(frame.heartbeat) && frame.heartbeat > 0) {
          this.silenceMs = frame.heartbeat * SILENT_HEARTBEATS * 1000;
          this.armWatchdog();
        }
        // Without `since` nothing is replayed: count on from the log's end.
        if (this.lastSeq === null && Number.isInteger(frame.latestSeq)) {
          this.setSeq(frame.latestSeq);
        }
        this.report("connected");
        this.handlers.hello(frame, { first: !this.everConnected });
        this.everConnected = true;
        break;
      case "reset":
        // The alerts that follow start at oldestSeq, possibly below what we had.
        if (Number.isInteger(frame.oldestSeq)) this.setSeq(Math.max(0, frame.oldestSeq - 1));
        this.handlers.reset(frame);
        break;
      case "synced":
        this.handlers.synced(frame);
        break;
      case "handled":
        this.handlers.handled(frame);
        break;
      case "presence":
        this.handlers.presence?.(frame);
        break;
      case "shopStatus":
        this.handlers.shopStatus?.(frame);
        break;
      case "escalation":
        this.handlers.escalation?.(frame);
        break;
      case "webhookDisabled":
        this.handlers.webhookDisabled?.(frame);
        break;
      default:
        break; // ping, and control frames of later versions
    }
  }

  receiveAlert(frame) {
    const seq = frame.seq;
    if (Number.isInteger(seq)) {
      if (this.lastSeq !== null && seq <= this.lastSeq) return; // seen already
      this.setSeq(seq);
    }
    this.handlers.alert(frame);
  }

  setSeq(seq) {
    this.lastSeq = seq;
    this.handlers.seq(seq);
  }

  closed(code) {
    this.socket = null;
    clearTimeout(this.watchdog);
    if (this.stopped) return;
    if (code === CLOSE_UNAUTHORIZED || code === CLOSE_FORBIDDEN) {
      // The same token will be refused again: retrying would only hammer the server.
      this.stop();
      this.handlers.refused(code);
      return;
    }
    if (code === CLOSE_BAD_REQUEST) this.lastSeq = null;
    this.failures += 1;
    const delay = backoffDelay(this.failures);
    const offline = this.failures >= OFFLINE_AFTER || navigator.onLine === false;
    this.report(offline ? "offline" : "reconnecting", Date.now() + delay);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Send a frame to the server if the socket is open; whether it was sent. */
  send(frame) {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  retryNow() {
    clearTimeout(this.retryTimer);
    this.connect();
  }

  armWatchdog() {
    clearTimeout(this.watchdog);
    if (this.silenceMs === null || !this.socket) return;
    const socket = this.socket;
    this.watchdog = setTimeout(() => {
      if (this.socket !== socket) return;
      // A dead link may never deliver a close event: stop listening to it and start over.
      this.drop();
      this.closed(1006);
    }, this.silenceMs);
  }

  drop() {
    clearTimeout(this.watchdog);
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onmessage = null;
    socket.onclose = null;
    try {
      socket.close(CLOSE_BY_US);
    } catch {
      /* already closing */
    }
  }

  report(state, retryAt = null) {
    if (!this.stopped) this.handlers.status({ state, attempt: this.failures, retryAt });
  }
}
