// Orders the server's escalation ladder says nobody has accepted for too long
// (an `escalation` frame, or `escalationLevel` on an order fetched later):
// while one of them still waits, the console rings louder and more often
// than the plain repeat of a new order. See docs/protocol.md, `escalation`.

import { Ringer } from "./ringer.js";

/** The escalated ring comes this many times as often as the plain repeat... */
export const ESCALATED_SPEEDUP = 3;
/** ...but never more often than every this many seconds. */
export const ESCALATED_MIN_SECONDS = 3;

export class Escalations {
  /** sound: the page's Sound; ringer: the plain repeat, whose period this one follows. */
  constructor({ sound, ringer }) {
    this.sound = sound;
    this.plain = ringer;
    this.levels = new Map(); // order id -> highest level heard of
    this.ringer = new Ringer(() => sound.chime("escalation"), this.periodSeconds());
  }

  periodSeconds() {
    return Math.max(ESCALATED_MIN_SECONDS, this.plain.periodMs / 1000 / ESCALATED_SPEEDUP);
  }

  level(orderId) {
    return this.levels.get(orderId) || 0;
  }

  /** An `escalation` frame: remember it and ring at once (louder). */
  frame(frame) {
    if (!Number.isInteger(frame.orderId) || !Number.isInteger(frame.level)) return false;
    this.levels.set(frame.orderId, Math.max(this.level(frame.orderId), frame.level));
    this.sound.chime("escalation");
    this.ringer.restart();
    return true;
  }

  /** An order as fetched: a console that connected after the frame learns it here. */
  order(order) {
    if (order && order.status === 2 && Number.isInteger(order.escalationLevel) && order.escalationLevel > 0) {
      this.levels.set(order.id, Math.max(this.level(order.id), order.escalationLevel));
    }
  }

  /**
   * Ring loud while one of `waiting` (ids of orders with an open new-order alert)
   * is escalated; returns whether it does, so the plain repeat can stay quiet.
   */
  update(waiting) {
    for (const id of [...this.levels.keys()]) if (!waiting.has(id)) this.levels.delete(id);
    const loud = [...waiting].some((id) => this.level(id) > 0);
    const seconds = this.periodSeconds();
    if (this.ringer.periodMs !== seconds * 1000) this.ringer.periodSeconds = seconds;
    this.ringer.update(loud);
    return loud;
  }

  stop() {
    this.ringer.stop();
    this.levels.clear();
  }
}
