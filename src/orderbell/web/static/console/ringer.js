// Rings again every N seconds while some new-order alert is still unhandled.

export class Ringer {
  constructor(ring, periodSeconds) {
    this.ring = ring;
    this.periodMs = periodSeconds * 1000;
    this.active = false;
    this.timer = null;
  }

  set periodSeconds(seconds) {
    this.periodMs = seconds * 1000;
    if (this.timer !== null) this.restart();
  }

  /** Ring (later) while `active`; stop at once when it is not. */
  update(active) {
    this.active = active;
    if (!active) this.clear();
    else if (this.timer === null) this.schedule();
  }

  /** Count the period from now (after the alert itself has just rung). */
  restart() {
    this.clear();
    if (this.active) this.schedule();
  }

  stop() {
    this.active = false;
    this.clear();
  }

  schedule() {
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.active) return;
      this.ring();
      this.schedule();
    }, this.periodMs);
  }

  clear() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}
