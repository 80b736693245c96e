// One logged-in shop console: the alert stream, which alerts are still open,
// the board's orders, and what rings. The page (app.js) owns the views.

import { Acks } from "./acks.js";
import { AlertStream } from "./alert-stream.js";
import { Api } from "./api.js";
import { tail } from "./board.js";
import { Escalations } from "./escalation.js";
import { isShopOrder, ordersNeedingAction } from "./notices.js";

const NEW_ORDER = 1;
const REMINDER = 2;
const seqKey = (shopId) => `orderbell.console.lastSeq.${shopId}`;

// Which open alerts of its order a merchant's move settles (as the server does).
const SETTLES = Object.freeze({
  accept: [NEW_ORDER],
  reject: [NEW_ORDER, REMINDER],
  complete: [NEW_ORDER, REMINDER],
  reply: [REMINDER],
  // Out for delivery answers the reminders before it (docs/decisions/reminders-of-orders-in-delivery.md).
  deliver: [REMINDER],
});

function storedSeq(shopId) {
  const value = Number.parseInt(sessionStorage.getItem(seqKey(shopId)) ?? "", 10);
  return Number.isInteger(value) && value >= 0 ? value : null;
}

export class ShopConsole {
  /**
   * ui: t(key, values), speechLang(), connection(status), notices(alerts),
   * attention(count), desktop(alert), toast(text), refused(code),
   * deviceStatus() (what this device says of itself), presence(frame).
   */
  constructor({ base, session, sid, deviceId, board, sound, ringer, ui }) {
    this.session = session;
    this.board = board;
    this.sound = sound;
    this.ringer = ringer;
    this.ui = ui;
    this.stopped = false;
    this.open = new Map(); // seq -> alert frame, the shop's alerts nobody has handled
    this.settled = new Set(); // seqs known handled, so a late list cannot reopen them
    this.requests = new Map(); // order id -> number of the latest details request
    this.reloading = Promise.resolve();
    this.escalations = new Escalations({ sound, ringer });
    this.api = new Api(base, session.token, (status) => this.refused(status === 403 ? 4403 : 4401));
    this.stream = new AlertStream({
      base,
      token: session.token,
      sid,
      lastSeq: storedSeq(session.shopId),
      params: { deviceId, kind: "browser" },
      handlers: {
        status: (status) => ui.connection(status),
        // Reload on every reconnection too: while this console was away,
        // orders may have moved without raising any alert.
        hello: (_frame, { first }) => {
          // The other devices of the shop learn at once whether this one can be heard.
          this.reportStatus();
          this.checkWebhooks();
          if (!first) this.reload();
        },
        presence: (frame) => ui.presence(frame),
        webhookDisabled: (frame) => ui.webhookDisabled?.(frame),
        reset: () => this.reload(),
        alert: (frame) => this.alert(frame),
        synced: (frame) => this.synced(frame),
        handled: (frame) => this.handled(frame),
        escalation: (frame) => this.escalate(frame),
        seq: (seq) => sessionStorage.setItem(seqKey(session.shopId), String(seq)),
        refused: (code) => this.refused(code),
      },
    });
    // When this console showed and rang each alert, for the shop's report.
    this.acks = new Acks((frame) => this.stream.send(frame));
    this.onVisible = () => this.acks.shown(this.open.values());
    this.offPlay = null;
  }

  start() {
    // The board comes over HTTP at once, even before (or without) the socket;
    // what changes until the socket is live shows up in `synced`.
    this.reload();
    this.stream.start();
    document.addEventListener("visibilitychange", this.onVisible);
    this.offPlay = this.sound.onPlay((kind) => this.rang(kind));
  }

  stop() {
    this.stopped = true;
    this.stream.stop();
    this.ringer.stop();
    this.escalations.stop();
    document.removeEventListener("visibilitychange", this.onVisible);
    if (this.offPlay) this.offPlay();
  }

  /** A chime of `kind` played: the open alerts it rang for have been rung. */
  rang(kind) {
    if (this.stopped || kind === "check") return;
    const type = kind === "reminder" ? REMINDER : NEW_ORDER;
    this.acks.rung([...this.open.values()].filter((a) => a.type === type));
  }

  /** Tell the server (and so the shop's other devices) this device's state. */
  reportStatus() {
    if (!this.stopped) this.stream.send({ type: "status", ...this.ui.deviceStatus() });
  }

  /** Warn about the shop's disabled webhook endpoints (on every connection). */
  checkWebhooks() {
    this.api
      .webhooks()
      .then((endpoints) => {
        if (!this.stopped) this.ui.webhooks?.(endpoints);
      })
      .catch(() => null);
  }

  get ringing() {
    return [...this.open.values()].some((a) => a.type === NEW_ORDER && isShopOrder(a));
  }

  refused(code) {
    if (this.stopped) return;
    this.stop();
    this.ui.refused(code);
  }

  /** Load the open orders and open alerts afresh (first connection, or after a reset). */
  reload() {
    const mark = this.board.mark();
    this.reloading = Promise.all([this.api.openOrders(), this.api.unhandled()])
      .then(([orders, alerts]) => {
        if (this.stopped) return;
        for (const order of orders) this.escalations.order(order);
        this.board.sync(orders, mark);
        for (const alert of alerts) this.keep(alert);
        this.changed();
      })
      .catch((error) => this.failed(error));
    return this.reloading;
  }

  keep(alert) {
    if (!alert || alert.handled || this.settled.has(alert.seq)) return false;
    this.open.set(alert.seq, alert);
    return true;
  }

  alert(frame) {
    if (this.stopped) return;
    if (frame.handled) {
      // Replayed after someone dealt with it: only the order's state matters now.
      if (Number.isInteger(frame.orderId)) this.refreshOrder(frame.orderId);
      return;
    }
    if (!this.keep(frame)) return;
    const t = this.ui.t;
    const own = isShopOrder(frame);
    if (frame.type === NEW_ORDER) {
      this.sound.announce("order", t("speakNew"), this.ui.speechLang());
      if (own) this.ringer.restart();
    } else if (frame.type === REMINDER) {
      this.sound.announce("reminder", t("speakReminder", { tail: tail(frame.orderNumber) }), this.ui.speechLang());
    }
    this.ui.desktop(frame);
    this.changed();
    if (own && Number.isInteger(frame.orderId) && (frame.type === NEW_ORDER || !this.board.has(frame.orderId))) {
      this.refreshOrder(frame.orderId);
    }
  }

  async synced(frame) {
    await this.reloading;
    if (this.stopped) return;
    const latest = Number.isInteger(frame.latestSeq) ? frame.latestSeq : Infinity;
    const unhandled = new Set(Array.isArray(frame.unhandled) ? frame.unhandled : []);
    // Handled while this console was away (its `handled` frames were missed).
    for (const seq of [...this.open.keys()]) {
      if (seq <= latest && !unhandled.has(seq)) this.open.delete(seq);
    }
    const missing = [...unhandled].some((seq) => !this.open.has(seq) && !this.settled.has(seq));
    if (missing) {
      try {
        for (const alert of await this.api.unhandled()) this.keep(alert);
      } catch (error) {
        this.failed(error);
      }
    }
    this.changed();
  }

  /** The server's ladder: nobody has accepted this order for too long. */
  escalate(frame) {
    if (this.stopped || !this.escalations.frame(frame)) return;
    this.board.escalate(frame.orderId, frame.level);
    this.changed();
  }

  handled(frame) {
    if (this.stopped) return;
    this.settle([frame.alertSeq]);
    if (frame.action !== "reply" && Number.isInteger(frame.orderId)) this.refreshOrder(frame.orderId);
  }

  /** Put away an alert no order move can handle (see isShopOrder), on every console. */
  dismiss(seq) {
    const alert = this.open.get(seq);
    if (!alert || isShopOrder(alert)) return;
    this.settle([seq]);
    // The server tells every other console of the shop (a `handled` frame).
    this.api.dismiss(seq).catch(() => null);
  }

  settle(seqs) {
    for (const seq of seqs) {
      this.settled.add(seq);
      this.open.delete(seq);
    }
    this.changed();
  }

  /** Everything that follows from the set of open alerts: flags, notices, title, ringing. */
  changed() {
    const flags = new Map();
    const own = [...this.open.values()].filter(isShopOrder);
    for (const alert of own) {
      const f = flags.get(alert.orderId) || { newOrder: false, reminder: false };
      if (alert.type === NEW_ORDER) f.newOrder = true;
      if (alert.type === REMINDER) f.reminder = true;
      flags.set(alert.orderId, f);
    }
    this.board.setFlags(flags);
    const alerts = [...this.open.values()].sort((a, b) => b.seq - a.seq);
    this.ui.notices(alerts);
    this.acks.shown(alerts);
    this.ui.attention(ordersNeedingAction(alerts));
    const waiting = new Set(own.filter((a) => a.type === NEW_ORDER).map((a) => a.orderId));
    // An escalated order rings louder and more often instead of the plain repeat.
    const loud = this.escalations.update(waiting);
    this.ringer.update(this.ringing && !loud);
    for (const alert of own) {
      if (Number.isInteger(alert.orderId) && !this.board.has(alert.orderId) && !this.requests.has(alert.orderId)) {
        this.refreshOrder(alert.orderId);
      }
    }
  }

  /** Fetch one order and show it as it is; the newest request wins. */
  async refreshOrder(orderId) {
    const ticket = (this.requests.get(orderId) || 0) + 1;
    this.requests.set(orderId, ticket);
    let order = null;
    try {
      order = await this.api.details(orderId);
    } catch (error) {
      if (error.status === 404 && this.requests.get(orderId) === ticket) this.board.remove(orderId);
      else this.failed(error);
      return;
    }
    if (this.stopped || this.requests.get(orderId) !== ticket) return;
    this.escalations.order(order);
    this.board.upsert(order);
  }

  /** A merchant's move from a card: accept, reject, deliver, complete, reply. */
  async act(kind, orderId, extra = {}) {
    const api = this.api;
    const moves = {
      accept: () => api.confirm(orderId, extra.prepMinutes),
      reject: () => api.reject(orderId, extra.reason),
      deliver: () => api.deliver(orderId),
      complete: () => api.complete(orderId),
      reply: () => api.reply(orderId, extra.reply, extra.text),
    };
    if (!moves[kind]) return false;
    this.board.setBusy(orderId, true);
    try {
      await moves[kind]();
    } catch (error) {
      this.board.setBusy(orderId, false);
      this.failed(error, true);
      this.refreshOrder(orderId);
      return false;
    }
    // The server sends `handled` to every console; this one need not wait for it.
    const types = SETTLES[kind];
    const settled = [...this.open.values()].filter((a) => a.orderId === orderId && types.includes(a.type));
    this.settle(settled.map((a) => a.seq));
    this.board.setBusy(orderId, false);
    if (kind !== "reply") await this.refreshOrder(orderId);
    return true;
  }

  failed(error, loud = false) {
    if (this.stopped || error?.status === 401 || error?.status === 403) return;
    if (loud || error?.status === 0) {
      const t = this.ui.t;
      this.ui.toast(t("actionFailed", { msg: error?.message || t("networkError") }));
    }
  }
}
