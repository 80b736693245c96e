// The "today" panel: how fast the shop answers today (GET /admin/report/alerts),
// its numbers and a chart of acceptance times per hour, drawn here as inline
// SVG (no library, nothing from another site). Refreshed every minute and
// whenever the panel is opened.

import { el, replaceChildren } from "./dom.js";

const REFRESH_MS = 60000;
const SVG = "http://www.w3.org/2000/svg";
// The chart's drawing box (the SVG scales to the panel's width).
const WIDTH = 480;
const HEIGHT = 150;
const LEFT = 34;
const BOTTOM = 18;
const TOP = 8;

const STRINGS = {
  zh: {
    title: "今日",
    summary: "{paid} 单 · 接单中位 {median}",
    ordersPaid: "已支付",
    ordersAccepted: "已接单",
    ordersAutoCancelled: "超时取消",
    ringMedianSeconds: "首次响铃（中位）",
    acceptMedianSeconds: "接单用时（中位）",
    acceptP90Seconds: "接单用时（90%）",
    remindersPerOrder: "每单催单",
    chart: "每小时接单用时：柱为中位，横线为 90%",
    bar: "{hour}:00 · {n} 单 · 中位 {median} · 90% {p90}",
    seconds: "{s} 秒",
    minutes: "{m} 分 {s} 秒",
    none: "—",
    failed: "暂时无法读取今日数据",
  },
  en: {
    title: "Today",
    summary: "{paid} orders · median to accept {median}",
    ordersPaid: "Paid",
    ordersAccepted: "Accepted",
    ordersAutoCancelled: "Auto-cancelled",
    ringMedianSeconds: "First ring (median)",
    acceptMedianSeconds: "Time to accept (median)",
    acceptP90Seconds: "Time to accept (90%)",
    remindersPerOrder: "Reminders per order",
    chart: "Time to accept per hour: bars median, lines 90%",
    bar: "{hour}:00 · {n} orders · median {median} · 90% {p90}",
    seconds: "{s} s",
    minutes: "{m} min {s} s",
    none: "—",
    failed: "Today's numbers cannot be read right now",
  },
};

const STATS = [
  "ordersPaid",
  "ordersAccepted",
  "ordersAutoCancelled",
  "ringMedianSeconds",
  "acceptMedianSeconds",
  "acceptP90Seconds",
  "remindersPerOrder",
];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child);
  return node;
}

/** A round top for the y axis: 1, 2 or 5 times a power of ten, at least `value`. */
export function niceCeiling(value) {
  if (!(value > 0)) return 60;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export class TodayPanel {
  /** root: the panel's <details>; api: the merchant Api; lang(): "zh" or "en". */
  constructor(root, { api, lang }) {
    this.root = root;
    this.api = api;
    this.lang = lang;
    this.report = null;
    this.failed = false;
    this.timer = null;
    this.onToggle = () => {
      if (this.root.open) this.refresh();
    };
  }

  t(key, values = {}) {
    const table = STRINGS[this.lang()] || STRINGS.zh;
    const text = table[key] ?? STRINGS.zh[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  }

  start() {
    this.root.hidden = false;
    this.root.addEventListener("toggle", this.onToggle);
    this.render();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.root.removeEventListener("toggle", this.onToggle);
    this.root.hidden = true;
    replaceChildren(this.root);
  }

  async refresh() {
    try {
      this.report = await this.api.call("GET", "admin/report/alerts");
      this.failed = false;
    } catch {
      this.failed = true; // the last numbers stay, marked as not current
    }
    if (this.timer !== null) this.render();
  }

  seconds(value) {
    if (typeof value !== "number") return this.t("none");
    const whole = Math.round(value);
    if (whole < 60) return this.t("seconds", { s: whole });
    return this.t("minutes", { m: Math.floor(whole / 60), s: whole % 60 });
  }

  value(key, report) {
    const value = report ? report[key] : null;
    if (key.endsWith("Seconds")) return this.seconds(value);
    if (typeof value !== "number") return this.t("none");
    return key === "remindersPerOrder" ? value.toFixed(2) : String(value);
  }

  render() {
    const report = this.report;
    const summary = el(
      "summary",
      {},
      el("span", { class: "today-title" }, this.t("title")),
      " ",
      el(
        "span",
        { class: "today-summary" },
        this.t("summary", {
          paid: report ? report.ordersPaid : this.t("none"),
          median: this.value("acceptMedianSeconds", report),
        }),
      ),
    );
    const stats = el(
      "dl",
      { class: "today-stats" },
      STATS.map((key) =>
        el("div", { class: "today-stat", dataset: { stat: key } }, el("dt", {}, this.t(key)), el("dd", {}, this.value(key, report))),
      ),
    );
    const body = el(
      "div",
      { class: "today-body" },
      stats,
      el("p", { class: "today-caption" }, this.t("chart")),
      this.chart(report ? report.hours || [] : []),
      this.failed && el("p", { class: "today-failed", role: "status" }, this.t("failed")),
    );
    replaceChildren(this.root, summary, body);
  }

  /** Bars of the median time to accept per hour of the day, a line at the 90th percentile. */
  chart(hours) {
    const plotted = hours.filter((h) => h && Number.isInteger(h.hour) && typeof h.acceptMedianSeconds === "number");
    const top = niceCeiling(Math.max(0, ...plotted.map((h) => h.acceptP90Seconds ?? h.acceptMedianSeconds)));
    const slot = (WIDTH - LEFT) / 24;
    const height = HEIGHT - BOTTOM - TOP;
    const y = (seconds) => TOP + height - (Math.min(seconds, top) / top) * height;
    const chart = svg("svg", {
      class: "today-chart",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": this.t("chart"),
    });
    chart.append(
      svg("line", { class: "today-axis", x1: LEFT, y1: TOP + height, x2: WIDTH, y2: TOP + height }),
      svg("text", { class: "today-label", x: LEFT - 4, y: TOP + 8, "text-anchor": "end" }, this.seconds(top)),
      svg("text", { class: "today-label", x: LEFT - 4, y: TOP + height, "text-anchor": "end" }, "0"),
    );
    for (const hour of [0, 6, 12, 18, 23]) {
      chart.append(
        svg("text", { class: "today-label", x: LEFT + slot * (hour + 0.5), y: HEIGHT - 4, "text-anchor": "middle" }, String(hour)),
      );
    }
    for (const h of plotted) {
      const x = LEFT + slot * h.hour + slot * 0.15;
      const width = slot * 0.7;
      const barTop = y(h.acceptMedianSeconds);
      const label = this.t("bar", {
        hour: String(h.hour).padStart(2, "0"),
        n: h.ordersAccepted,
        median: this.seconds(h.acceptMedianSeconds),
        p90: this.seconds(h.acceptP90Seconds),
      });
      const bar = svg(
        "rect",
        { class: "today-bar", "data-hour": h.hour, x, y: barTop, width, height: Math.max(1, TOP + height - barTop) },
        svg("title", {}, label),
      );
      chart.append(bar);
      if (typeof h.acceptP90Seconds === "number") {
        const p90 = y(h.acceptP90Seconds);
        chart.append(svg("line", { class: "today-p90", "data-hour": h.hour, x1: x, y1: p90, x2: x + width, y2: p90 }));
      }
    }
    return chart;
  }
}
