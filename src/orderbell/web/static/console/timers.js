// How long each waiting order has waited: a timer on its card, counting up,
// amber after one threshold and red after the other (console settings).

const NEW_ORDER = 1;
const TICK_MS = 1000;

/** "m:ss" (or "h:mm:ss") of a number of seconds. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** "yyyy-MM-dd HH:mm" (the API's order times) as a time of this device, or NaN. */
function parseOrderTime(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})/.exec(text || "");
  return m ? new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]).getTime() : NaN;
}

export class WaitTimers {
  /** thresholds() gives {amberSeconds, redSeconds}; t is the translator. */
  constructor({ t, thresholds }) {
    this.t = t;
    this.thresholds = thresholds;
    // Seconds from payment to the shop's auto-cancel (its escalation ladder), or
    // null while unknown or off: the card then also shows the time left.
    this.autoCancelSeconds = null;
    this.since = new Map(); // order id -> ms: when its new-order alert was raised
    this.timer = null;
  }

  start() {
    if (this.timer === null) this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  /** The open alerts: a waiting order has waited since its new-order alert. */
  setAlerts(alerts) {
    this.since.clear();
    for (const alert of alerts) {
      const at = Date.parse(alert.createdAt);
      if (alert.type === NEW_ORDER && Number.isInteger(alert.orderId) && Number.isFinite(at)) {
        this.since.set(alert.orderId, at);
      }
    }
    this.tick();
  }

  /** Fill one card's timer (the board calls it for every card it draws). */
  show(node, order) {
    const slot = node.querySelector(".wait-timer");
    if (!slot) return;
    // Payment time to the minute, in case the alert is not known (yet).
    const since = this.since.get(order.id) ?? parseOrderTime(order.checkoutTime || order.orderTime);
    if (!Number.isFinite(since)) {
      slot.hidden = true;
      return;
    }
    const waited = (Date.now() - since) / 1000;
    const { amberSeconds, redSeconds } = this.thresholds();
    const level = waited >= redSeconds ? "red" : waited >= amberSeconds ? "amber" : "ok";
    slot.hidden = false;
    slot.dataset.level = level;
    slot.dataset.orderId = String(order.id);
    const waitedText = this.t("waited", { time: clock(waited) });
    const left = this.autoCancelSeconds === null ? null : this.autoCancelSeconds - waited;
    slot.textContent = left === null ? waitedText : `${waitedText} · ${this.t("autoCancelIn", { time: clock(left) })}`;
    slot.dataset.autoCancelLeft = left === null ? "" : String(Math.max(0, Math.floor(left)));
  }

  tick() {
    for (const node of document.querySelectorAll(".card[data-status='2']")) {
      const id = Number(node.dataset.orderId);
      this.show(node, { id, checkoutTime: node.dataset.checkoutTime, orderTime: node.dataset.orderTime });
    }
  }
}
