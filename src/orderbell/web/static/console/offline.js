// While the console cannot hear the server, nobody must think it can: a
// banner across the board, the card buttons off, and after a while (a
// setting) an alarm that repeats until the link is back.

const DISCONNECTED = new Set(["reconnecting", "offline"]);

export class OfflineWatch {
  /**
   * alarm() plays the alarm; alarmSeconds() is how long a link may be down
   * before it does (and how often it repeats); onChange(down) shows or hides.
   */
  constructor({ alarm, alarmSeconds, onChange }) {
    this.alarm = alarm;
    this.alarmSeconds = alarmSeconds;
    this.onChange = onChange;
    this.down = false;
    this.timer = null;
  }

  /** The stream's connection state: connecting, connected, reconnecting or offline. */
  update(state) {
    const down = DISCONNECTED.has(state);
    if (down === this.down) return;
    this.down = down;
    this.onChange(down);
    if (down) this.schedule();
    else this.clear();
  }

  /** Logged out: nothing to watch. */
  stop() {
    const wasDown = this.down;
    this.down = false;
    this.clear();
    if (wasDown) this.onChange(false);
  }

  schedule() {
    this.clear();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.down) return;
      this.alarm();
      this.schedule();
    }, this.alarmSeconds() * 1000);
  }

  clear() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}
