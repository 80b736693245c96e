// Is this device ready to alert? The "start the shift" overlay until sound is
// on, the Screen Wake Lock while the page is visible, and a readiness panel with
// a banner whenever something is wrong: sound enabled (the audio context
// running), volume not muted, notifications allowed, push subscribed, wake lock
// held, connected. What it finds goes into the console's status frame, so the
// shop's other devices and GET /admin/shop/devices show a device that is not ready.

import { el, replaceChildren } from "./dom.js";

const WAKE_KEY = "orderbell.console.wakeLock";
// The checks, in the order shown; each is a problem code of the status frame.
export const CHECKS = ["sound", "volume", "notifications", "push", "wakeLock", "connection"];

const STRINGS = {
  zh: {
    "check.sound": "提醒声音已开启",
    "check.volume": "音量未静音",
    "check.notifications": "已允许通知",
    "check.push": "已订阅推送（页面关闭也能收到提醒）",
    "check.wakeLock": "屏幕保持常亮",
    "check.connection": "已连接服务器",
    "problem.sound": "声音未开启",
    "problem.volume": "已静音",
    "problem.notifications": "通知未允许",
    "problem.push": "未订阅推送",
    "problem.wakeLock": "屏幕可能休眠",
    "problem.connection": "未连接",
    notReady: "本设备未就绪：{what}",
    otherNotReady: "{name}未就绪：{what}",
    allReady: "本设备已就绪",
    readiness: "就绪检查",
    testRing: "试响提醒",
    allow: "允许通知",
    wakeSetting: "页面打开时保持屏幕常亮",
    shiftTitle: "开始营业",
    shiftText: "点一下屏幕，开启提醒声音。",
    shiftButton: "开始营业",
    offline: "离线：无法连接服务器，页面为离线缓存。恢复连接后会自动重连。",
    ok: "正常",
    bad: "需处理",
    off: "已关闭",
  },
  en: {
    "check.sound": "Alert sound on",
    "check.volume": "Volume not muted",
    "check.notifications": "Notifications allowed",
    "check.push": "Push subscribed (alerts with the page closed)",
    "check.wakeLock": "Screen kept awake",
    "check.connection": "Connected to the server",
    "problem.sound": "sound off",
    "problem.volume": "muted",
    "problem.notifications": "notifications not allowed",
    "problem.push": "push not subscribed",
    "problem.wakeLock": "screen may sleep",
    "problem.connection": "not connected",
    notReady: "This device is not ready: {what}",
    otherNotReady: "{name} is not ready: {what}",
    allReady: "This device is ready",
    readiness: "Readiness",
    testRing: "Test ring",
    allow: "Allow notifications",
    wakeSetting: "Keep the screen on while the page is open",
    shiftTitle: "Start the shift",
    shiftText: "Tap the screen to turn the alert sound on.",
    shiftButton: "Start the shift",
    offline: "Offline: the server cannot be reached; this is the saved page. It reconnects by itself.",
    ok: "OK",
    bad: "Needs attention",
    off: "Off",
  },
};

function say(lang, key, values = {}) {
  const text = (STRINGS[lang] || STRINGS.zh)[key] ?? STRINGS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

function problemList(lang, problems) {
  return problems.map((code) => say(lang, `problem.${code}`)).join(lang === "zh" ? "、" : ", ");
}

/** The warning shown for another device of the shop that says it is not ready (or null). */
export function notReadyWarning(device, lang) {
  if (!device || device.ready !== false) return null;
  const problems = Array.isArray(device.problems) ? device.problems.filter((p) => CHECKS.includes(p)) : [];
  return say(lang, "otherNotReady", { name: String(device.deviceId), what: problemList(lang, problems) });
}

function isTablet() {
  const coarse = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
  return Boolean(coarse && Math.min(screen.width, screen.height) >= 600);
}

/** The Screen Wake Lock while the page is visible, taken again when it is visible again. */
export class ScreenLock {
  constructor(onChange) {
    this.onChange = onChange;
    this.sentinel = null;
    this.pending = false;
    /** Whether the console runs (logged in): only then is the screen kept on. */
    this.wanted = false;
    const saved = localStorage.getItem(WAKE_KEY);
    this.enabled = saved === null ? isTablet() : saved === "on";
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.acquire();
    });
  }

  get supported() {
    return "wakeLock" in navigator;
  }

  get held() {
    return Boolean(this.sentinel && !this.sentinel.released);
  }

  setEnabled(on) {
    this.enabled = on;
    localStorage.setItem(WAKE_KEY, on ? "on" : "off");
    if (on) this.acquire();
    else this.release();
  }

  async acquire() {
    if (!this.wanted || !this.enabled || !this.supported || this.held || this.pending) return;
    if (document.visibilityState !== "visible") return;
    this.pending = true;
    try {
      const sentinel = await navigator.wakeLock.request("screen");
      this.sentinel = sentinel;
      sentinel.addEventListener("release", () => {
        if (this.sentinel === sentinel) this.sentinel = null;
        this.onChange();
      });
    } catch {
      this.sentinel = null; // refused (battery saver, not visible): the panel says so
    } finally {
      this.pending = false;
    }
    this.onChange();
  }

  async release() {
    const sentinel = this.sentinel;
    this.sentinel = null;
    if (sentinel && !sentinel.released) await sentinel.release().catch(() => null);
    this.onChange();
  }
}

export class Readiness {
  /**
   * ctx: lang(), active() (logged in), sound (Sound), muted(), volume(), connection(),
   * enableSound(), testRing(), reportStatus(), pwa (Pwa).
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.lock = new ScreenLock(() => this.refresh());
    this.last = "";
    this.timer = null;
    this.lockTried = 0;
    this.build();
    ctx.sound.onChange(() => this.refresh());
    document.addEventListener("visibilitychange", () => this.refresh());
  }

  build() {
    const lang = () => this.ctx.lang();
    this.overlay = el(
      "div",
      { id: "shift-overlay", class: "shift-overlay", role: "dialog", "aria-modal": "true", hidden: true },
      el(
        "div",
        { class: "shift-box" },
        el("h1", { class: "shift-title" }),
        el("p", { class: "shift-text" }),
        el("button", { id: "start-shift", type: "button", class: "primary big" }),
      ),
    );
    // One tap anywhere on it: sound on, overlay gone (the page's own click handler is not
    // reached, so the sound is switched on once).
    this.overlay.addEventListener("click", async (event) => {
      event.stopPropagation();
      await this.ctx.enableSound();
      this.refresh();
    });
    this.banner = el("button", { id: "readiness-banner", class: "readiness-banner", type: "button", hidden: true });
    this.banner.addEventListener("click", () => this.toggle(true));
    this.list = el("ul", { class: "readiness-list" });
    this.wake = el("input", { id: "readiness-wake", type: "checkbox" });
    this.wake.addEventListener("change", () => this.lock.setEnabled(this.wake.checked));
    this.testButton = el("button", { id: "test-ring", type: "button" });
    this.testButton.addEventListener("click", (event) => {
      event.stopPropagation();
      this.ctx.testRing();
    });
    this.allowButton = el("button", { id: "readiness-allow", type: "button", hidden: true });
    this.allowButton.addEventListener("click", async () => {
      if ("Notification" in window) await Notification.requestPermission();
      this.refresh();
    });
    this.others = el("ul", { id: "readiness-others", class: "readiness-others", hidden: true });
    this.othersList = [];
    this.heading = el("h2");
    this.wakeLabel = el("span");
    this.panel = el(
      "section",
      { id: "readiness", class: "readiness", hidden: true },
      this.heading,
      this.list,
      this.others,
      el("label", { class: "inline" }, this.wake, " ", this.wakeLabel),
      el("div", { class: "readiness-actions" }, this.testButton, this.allowButton),
    );
    this.toggleButton = el("button", { id: "readiness-toggle", type: "button", class: "pill", "aria-controls": "readiness" });
    this.toggleButton.addEventListener("click", () => this.toggle());
    const topbar = document.querySelector(".topbar");
    const anchor = document.getElementById("device-warnings");
    if (topbar) topbar.insertBefore(this.toggleButton, document.getElementById("settings-toggle"));
    if (anchor) anchor.before(this.banner, this.panel);
    document.body.append(this.overlay);
    this.lang = lang;
  }

  toggle(open) {
    this.panel.hidden = open === undefined ? !this.panel.hidden : !open;
    this.toggleButton.setAttribute("aria-expanded", String(!this.panel.hidden));
  }

  start() {
    this.lock.wanted = true;
    this.lock.acquire();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), 1000);
    this.refresh();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.lock.wanted = false;
    this.lock.release();
    this.refresh();
  }

  /** Each check: true (fine), false (wrong) or null (not counted). */
  checks() {
    const ctx = this.ctx;
    const visible = document.visibilityState === "visible";
    const notifications = "Notification" in window ? Notification.permission : "unsupported";
    return {
      sound: ctx.sound.ready,
      volume: !ctx.muted() && ctx.volume() > 0,
      notifications: notifications === "granted",
      push: ctx.pwa.push === "subscribed",
      // Held only while visible (the browser lets it go when hidden), when switched on.
      wakeLock: this.lock.enabled && this.lock.supported && visible ? this.lock.held : null,
      connection: ctx.connection() === "connected",
    };
  }

  /** What the status frame says of readiness. */
  status() {
    const checks = this.checks();
    const problems = CHECKS.filter((name) => checks[name] === false);
    return { ready: problems.length === 0, problems, wakeLock: this.lock.held, push: checks.push };
  }

  refresh() {
    const active = this.ctx.active();
    const lang = this.lang();
    const checks = this.checks();
    const { problems } = this.status();
    this.ctx.pwa.suspect = active && !checks.connection;
    // The overlay: until sound runs, nothing else on the page matters.
    this.overlay.hidden = !active || this.ctx.sound.state !== "off";
    this.overlay.querySelector(".shift-title").textContent = say(lang, "shiftTitle");
    this.overlay.querySelector(".shift-text").textContent = say(lang, "shiftText");
    this.overlay.querySelector("#start-shift").textContent = say(lang, "shiftButton");
    this.banner.hidden = !active || problems.length === 0;
    this.banner.textContent = say(lang, "notReady", { what: problemList(lang, problems) });
    this.toggleButton.hidden = !active;
    this.toggleButton.dataset.state = problems.length ? "bad" : "ok";
    this.toggleButton.textContent = `${say(lang, "readiness")} · ${say(lang, problems.length ? "bad" : "ok")}`;
    this.heading.textContent = problems.length ? say(lang, "readiness") : say(lang, "allReady");
    replaceChildren(
      this.list,
      CHECKS.map((name) => {
        const value = checks[name];
        const state = value === null ? "off" : value ? "ok" : "bad";
        return el(
          "li",
          { class: `readiness-item readiness-${state}`, dataset: { check: name, state } },
          el("span", { class: "readiness-mark", "aria-hidden": "true" }, value === null ? "–" : value ? "✓" : "✗"),
          ` ${say(lang, `check.${name}`)}`,
          el("span", { class: "readiness-state" }, ` · ${say(lang, state)}`),
        );
      }),
    );
    this.renderOthers();
    this.wake.checked = this.lock.enabled;
    this.wakeLabel.textContent = say(lang, "wakeSetting");
    this.testButton.textContent = say(lang, "testRing");
    this.allowButton.textContent = say(lang, "allow");
    this.allowButton.hidden = !("Notification" in window) || Notification.permission !== "default";
    // Allowed now (here or in the settings): subscribe to push.
    if (active && checks.notifications && this.ctx.pwa.push === "off") this.ctx.subscribePush();
    // Taken again if the browser let it go while visible (at most every 10 s).
    const now = Date.now();
    if (active && checks.wakeLock === false && now - this.lockTried > 10_000) {
      this.lockTried = now;
      this.lock.acquire();
    }
    const said = JSON.stringify(this.status());
    if (said !== this.last) {
      this.last = said;
      if (active) this.ctx.reportStatus();
    }
  }

  /** The shop's other devices that say they are not ready, listed in the panel. */
  showOthers(devices, me) {
    this.othersList = devices.filter((d) => d && d.deviceId !== me && d.ready === false);
    this.renderOthers();
  }

  renderOthers() {
    const lang = this.lang();
    replaceChildren(
      this.others,
      this.othersList.map((d) => el("li", { class: "readiness-other" }, notReadyWarning(d, lang))),
    );
    this.others.hidden = this.othersList.length === 0;
  }

  /** The offline banner's words (pwa.js shows it). */
  offlineText() {
    return say(this.lang(), "offline");
  }
}
