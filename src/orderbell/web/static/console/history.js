// The order history: today's orders by state, a search by order number or
// the phone's last digits, and an order's story (its alerts, who handled
// them). Finished and cancelled orders leave the board; they are found here.

import { tail } from "./board.js";
import { el, replaceChildren } from "./dom.js";

export const STATES = Object.freeze([2, 3, 4, 5, 6]);
const PAGE_SIZE = 100;
const MAX_PAGES = 10;
// Up to this many digits a search is the phone's tail; longer, an order number.
const PHONE_TAIL_MAX = 4;

/** Midnight today on this device, as the API's "yyyy-MM-dd HH:mm:ss". */
function todayStart(now = new Date()) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} 00:00:00`;
}

/** The local clock time of an ISO instant ("HH:mm:ss"). */
function clockOf(iso) {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? "" : at.toLocaleTimeString("zh-CN", { hour12: false });
}

function money(amount) {
  const n = Number(amount);
  return Number.isFinite(n) ? n.toFixed(2) : "";
}

export class OrderHistory {
  /**
   * nodes: {panel, states, list, detail, query, form}; api() gives the
   * logged-in Api (or null); t is the translator.
   */
  constructor({ nodes, api, t }) {
    this.nodes = nodes;
    this.api = api;
    this.t = t;
    this.orders = []; // what the list shows: today's orders, or a search's
    this.state = null; // the state tab chosen (null: all)
    this.searching = "";
    this.ticket = 0; // the newest load wins
    nodes.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.search(nodes.query.value);
    });
    nodes.query.addEventListener("search", () => {
      if (!nodes.query.value) this.search("");
    });
  }

  get open() {
    return !this.nodes.panel.hidden;
  }

  toggle() {
    if (this.open) this.close();
    else this.show();
    return this.open;
  }

  show() {
    this.nodes.panel.hidden = false;
    this.nodes.detail.hidden = true;
    this.load();
  }

  close() {
    this.nodes.panel.hidden = true;
    this.orders = [];
    this.searching = "";
    this.nodes.query.value = "";
    replaceChildren(this.nodes.list, []);
    replaceChildren(this.nodes.detail, []);
  }

  setTranslator(t) {
    this.t = t;
    if (this.open) this.render();
  }

  /** Digits only; up to four search the phone's tail, more an order number. */
  search(text) {
    this.searching = String(text || "").replace(/\D/g, "");
    this.nodes.query.value = this.searching;
    this.nodes.detail.hidden = true;
    this.load();
  }

  async load() {
    const api = this.api();
    if (!api) return;
    const ticket = ++this.ticket;
    const q = this.searching;
    const params = new URLSearchParams({ pageSize: String(PAGE_SIZE) });
    if (!q) params.set("beginTime", todayStart());
    else if (q.length <= PHONE_TAIL_MAX) params.set("phone", q);
    else params.set("number", q);
    let orders = [];
    try {
      for (let page = 1; page <= MAX_PAGES; page += 1) {
        params.set("page", String(page));
        const found = await api.search(params);
        orders = orders.concat(found.records || []);
        if (orders.length >= (found.total || 0) || !(found.records || []).length) break;
      }
    } catch {
      if (ticket === this.ticket) this.showError();
      return;
    }
    if (ticket !== this.ticket) return;
    // The phone's tail, not any four digits of it.
    if (q && q.length <= PHONE_TAIL_MAX) orders = orders.filter((o) => String(o.phone || "").endsWith(q));
    this.orders = orders.sort((a, b) => b.id - a.id);
    this.render();
  }

  showError() {
    replaceChildren(this.nodes.list, el("li", { class: "history-empty" }, this.t("networkError")));
  }

  render() {
    const t = this.t;
    const count = (state) => this.orders.filter((o) => state === null || o.status === state).length;
    replaceChildren(
      this.nodes.states,
      [null, ...STATES].map((state) =>
        el(
          "button",
          {
            type: "button",
            class: `history-state${state === this.state ? " chosen" : ""}`,
            "aria-pressed": String(state === this.state),
            dataset: { state: state === null ? "all" : state },
            onclick: () => {
              this.state = state;
              this.render();
            },
          },
          `${state === null ? t("history.all") : t(`status.${state}`)} `,
          el("span", { class: "history-count" }, String(count(state))),
        ),
      ),
    );
    const shown = this.orders.filter((o) => this.state === null || o.status === this.state);
    const title = this.searching ? t("history.found", { q: this.searching }) : t("history.today");
    const rows = shown.map((o) =>
      el(
        "li",
        {},
        el(
          "button",
          { type: "button", class: "history-row", dataset: { orderId: o.id }, onclick: () => this.detail(o.id) },
          el("span", { class: "history-tail" }, `#${tail(o.number)}`),
          el("span", { class: `history-status status-${o.status}` }, t(`status.${o.status}`)),
          el("span", { class: "history-amount" }, `¥${money(o.amount)}`),
          el("span", { class: "history-time" }, o.orderTime || ""),
          el("span", { class: "history-who" }, [o.consignee, o.phone && `…${String(o.phone).slice(-4)}`].filter(Boolean).join(" ")),
        ),
      ),
    );
    replaceChildren(
      this.nodes.list,
      el("li", { class: "history-title" }, title),
      rows.length ? rows : el("li", { class: "history-empty" }, t("history.none")),
    );
  }

  /** One order's story: its lines, its times, and every alert with who handled it. */
  async detail(orderId) {
    const api = this.api();
    if (!api) return;
    const t = this.t;
    let order;
    let alerts;
    try {
      [order, alerts] = await Promise.all([api.details(orderId), api.orderAlerts(orderId)]);
    } catch {
      this.showError();
      return;
    }
    const lines = Array.isArray(order.orderDetailList) ? order.orderDetailList : [];
    const fact = (label, value) =>
      value && el("p", { class: "history-fact" }, el("span", { class: "label" }, label), String(value));
    const alertItems = alerts.map((a) => {
      const handled = a.handled;
      const who = a.handledBy?.name || (handled?.action === "customer_cancel" ? t("history.customer") : "");
      return el(
        "li",
        { class: `history-alert ${handled ? "is-handled" : "is-open"}`, dataset: { seq: a.seq } },
        el("strong", {}, t(a.type === 1 ? "flag.new" : "flag.reminder")),
        ` ${clockOf(a.createdAt)} → `,
        handled
          ? el(
              "span",
              { class: "history-handled" },
              [t(`handled.${handled.action}`), who, clockOf(handled.at), handled.reply && `“${handled.reply}”`]
                .filter(Boolean)
                .join(" · "),
            )
          : el("span", { class: "history-open" }, t("history.open")),
      );
    });
    replaceChildren(
      this.nodes.detail,
      el(
        "header",
        { class: "history-detail-head" },
        el("span", { class: "tail" }, `#${tail(order.number)}`),
        el("span", { class: `history-status status-${order.status}` }, t(`status.${order.status}`)),
        el("button", { type: "button", class: "history-back", onclick: () => (this.nodes.detail.hidden = true) }, t("history.back")),
      ),
      fact(t("number"), order.number),
      fact(t("amount"), `¥${money(order.amount)}`),
      fact(t("orderTime"), order.orderTime),
      fact(t("expected"), order.estimatedDeliveryTime),
      fact(t("address"), [order.consignee, order.phone, order.address].filter(Boolean).join(" · ")),
      fact(t("remark"), order.remark),
      fact(t("history.rejected"), order.rejectionReason),
      fact(t("history.cancelled"), order.cancelReason),
      el("ul", { class: "items" }, lines.map((d) => el("li", {}, `${d.number}× ${d.name}`))),
      el("h3", {}, t("history.alerts")),
      el("ol", { class: "history-alerts" }, alertItems.length ? alertItems : el("li", {}, t("history.noAlerts"))),
    );
    this.nodes.detail.hidden = false;
    this.nodes.detail.scrollIntoView({ block: "nearest" });
  }
}
