// The board: a card per order the shop still has to deal with, in a column
// per status. Everything from an order is set as text (see dom.js).

import { el } from "./dom.js";

export const OPEN_STATUSES = Object.freeze([2, 3, 4]);
export const REPLIES = Object.freeze(["out_for_delivery", "cooking", "weather_delay", "short_handed"]);
export const CUSTOM_REPLY_MAX = 30;
// The prep times a waiting card offers (minutes); one tap on "accept" takes the shop's default.
export const PREP_CHOICES = Object.freeze([10, 15, 20, 30]);
const NO_FLAGS = Object.freeze({ newOrder: false, reminder: false });

/** The last four characters of an order number: what people call an order by. */
export function tail(number) {
  const text = String(number ?? "");
  return text.slice(-4);
}

function money(amount) {
  const n = Number(amount);
  return Number.isFinite(n) ? n.toFixed(2) : "";
}

export class Board {
  /**
   * root holds one .column[data-status] section per open status, each with a
   * .cards list and a .count. onAction(kind, orderId, extra) runs for the
   * card buttons: accept, reject, deliver, complete, reply.
   */
  constructor(root, { t, onAction, decorate }) {
    this.root = root;
    this.t = t;
    this.onAction = onAction;
    this.decorate = decorate; // decorate(node, order): fills what other modules keep (timers)
    this.entries = new Map(); // order id -> {order, version, busy, draft, node}
    this.flags = new Map(); // order id -> {newOrder, reminder}
    this.version = 0;
    this.prepMinutes = null; // the shop's usual prep time, once known
    this.offline = false; // no link to the server: no move can reach it
    this.ticketButton = false; // a "ticket" button on each card (shops without a printer)
    this.render();
  }

  /** Show or hide the "ticket" button (the text preview) on every card. */
  setTicketButton(shown) {
    if (this.ticketButton === shown) return;
    this.ticketButton = shown;
    for (const entry of this.entries.values()) this.renderCard(entry);
    this.render();
  }

  /** While the console is disconnected its card buttons are off. */
  setOffline(offline) {
    if (this.offline === offline) return;
    this.offline = offline;
    for (const entry of this.entries.values()) this.renderCard(entry);
  }

  /** The shop's usual prep time: what the accept button says it sends. */
  setPrepMinutes(minutes) {
    this.prepMinutes = Number.isInteger(minutes) ? minutes : null;
    for (const entry of this.entries.values()) if (entry.order.status === 2) this.renderCard(entry);
  }

  setTranslator(t) {
    this.t = t;
    for (const entry of this.entries.values()) this.renderCard(entry);
    this.render();
  }

  has(orderId) {
    return this.entries.has(orderId);
  }

  /** A marker to pass to sync(): cards changed after it are newer than a reload. */
  mark() {
    return this.version;
  }

  /** Show the order as it is now: on the board while open, gone once it ends. */
  upsert(order) {
    if (!order || !Number.isInteger(order.id)) return;
    if (!OPEN_STATUSES.includes(order.status)) {
      this.remove(order.id);
      return;
    }
    const entry = this.entries.get(order.id) || { busy: false, draft: "", node: null };
    entry.order = order;
    entry.version = ++this.version;
    this.entries.set(order.id, entry);
    this.renderCard(entry);
    this.render();
  }

  remove(orderId) {
    const entry = this.entries.get(orderId);
    if (!entry) return;
    entry.node?.remove();
    this.entries.delete(orderId);
    this.version += 1;
    this.render();
  }

  /** Take a reload's orders; drop cards it lacks unless they changed since `mark`. */
  sync(orders, mark) {
    const seen = new Set();
    for (const order of orders) {
      seen.add(order.id);
      this.upsert(order);
    }
    for (const [id, entry] of [...this.entries]) {
      if (!seen.has(id) && entry.version <= mark) this.remove(id);
    }
  }

  clear() {
    this.entries.clear();
    this.flags.clear();
    for (const list of this.root.querySelectorAll(".cards")) list.replaceChildren();
    this.render();
  }

  /** Which orders carry a "待接单" / "催单" notice: a Map of order id to {newOrder, reminder}. */
  setFlags(flags) {
    const before = this.flags;
    this.flags = flags;
    for (const [id, entry] of this.entries) {
      const a = before.get(id) || NO_FLAGS;
      const b = flags.get(id) || NO_FLAGS;
      if (a.newOrder !== b.newOrder || a.reminder !== b.reminder) this.renderCard(entry);
    }
  }

  /** The ladder escalated a waiting order: mark its card (the server's level wins later). */
  escalate(orderId, level) {
    const entry = this.entries.get(orderId);
    if (!entry || (entry.order.escalationLevel || 0) >= level) return;
    entry.order = { ...entry.order, escalationLevel: level };
    this.renderCard(entry);
  }

  setBusy(orderId, busy) {
    const entry = this.entries.get(orderId);
    if (!entry || entry.busy === busy) return;
    entry.busy = busy;
    this.renderCard(entry);
  }

  /** Bring an order's card into view and make it blink once. */
  focus(orderId) {
    const node = this.entries.get(orderId)?.node;
    if (!node) return;
    node.scrollIntoView({ behavior: "smooth", block: "center" });
    node.classList.remove("focus");
    void node.offsetWidth; // restart the animation
    node.classList.add("focus");
  }

  render() {
    for (const section of this.root.querySelectorAll(".column[data-status]")) {
      const status = Number(section.dataset.status);
      const list = section.querySelector(".cards");
      const entries = [...this.entries.values()]
        .filter((e) => e.order.status === status)
        .sort((a, b) => a.order.id - b.order.id);
      // Oldest first: the order that has waited longest is handled first.
      entries.forEach((entry, index) => {
        if (list.children[index] !== entry.node) list.insertBefore(entry.node, list.children[index] || null);
      });
      for (const extra of [...list.children].slice(entries.length)) extra.remove();
      section.querySelector(".count").textContent = String(entries.length);
      section.querySelector(".empty").hidden = entries.length > 0;
    }
  }

  renderCard(entry) {
    const node = this.card(entry);
    if (entry.node) entry.node.replaceWith(node);
    entry.node = node;
    this.decorate?.(node, entry.order);
  }

  card(entry) {
    const t = this.t;
    const o = entry.order;
    const flags = this.flags.get(o.id) || NO_FLAGS;
    const classes = ["card", `status-${o.status}`];
    if (flags.newOrder) classes.push("has-new");
    if (flags.reminder) classes.push("has-reminder");
    const escalated = o.status === 2 && o.escalationLevel > 0;
    if (escalated) classes.push("escalated");
    const lines = Array.isArray(o.orderDetailList) ? o.orderDetailList : [];
    const who = [o.consignee, o.phone].filter(Boolean).join(" ");
    return el(
      "article",
      {
        class: classes.join(" "),
        dataset: { orderId: o.id, status: o.status, checkoutTime: o.checkoutTime || "", orderTime: o.orderTime || "" },
        "aria-busy": entry.busy ? "true" : "false",
      },
      el(
        "div",
        { class: "flags" },
        flags.newOrder && el("span", { class: "flag flag-new" }, t("flag.new")),
        flags.reminder && el("span", { class: "flag flag-reminder" }, t("flag.reminder")),
        escalated && el("span", { class: "flag flag-escalated" }, t("flag.escalated")),
      ),
      el(
        "header",
        { class: "card-head" },
        el("span", { class: "tail" }, `#${tail(o.number)}`),
        el("span", { class: "amount" }, `¥${money(o.amount)}`),
      ),
      o.status === 2 && el("p", { class: "wait-timer", role: "timer", hidden: true }),
      el("p", { class: "number" }, `${t("number")} `, el("span", { class: "number-value" }, o.number)),
      el(
        "ul",
        { class: "items" },
        lines.map((d) =>
          el(
            "li",
            {},
            el("span", { class: "qty" }, `${d.number}×`),
            el("span", { class: "dish" }, d.name),
            d.dishFlavor && el("span", { class: "flavor" }, d.dishFlavor),
          ),
        ),
      ),
      o.remark &&
        el(
          "p",
          { class: "remark" },
          el("span", { class: "label" }, t("remark")),
          el("span", { class: "remark-text" }, o.remark),
        ),
      o.tablewareNumber > 0 && el("p", { class: "tableware" }, t("tableware", { n: o.tablewareNumber })),
      el(
        "p",
        { class: "address" },
        el("span", { class: "label" }, t("address")),
        el("span", { class: "address-text" }, [who, o.address].filter(Boolean).join(" · ")),
      ),
      el(
        "p",
        { class: "time" },
        `${t("orderTime")} ${o.orderTime || ""}`,
        o.estimatedDeliveryTime && ` · ${t("expected")} ${o.estimatedDeliveryTime}`,
      ),
      flags.reminder && this.replyBox(entry),
      this.actions(entry),
    );
  }

  actions(entry) {
    const t = this.t;
    const id = entry.order.id;
    const button = (kind, label, cls) =>
      el(
        "button",
        {
          type: "button",
          class: `action ${cls}`,
          disabled: entry.busy || this.offline,
          dataset: { action: kind },
          onclick: () => this.onAction(kind, id),
        },
        label,
      );
    const accept = this.prepMinutes ? t("acceptWithPrep", { n: this.prepMinutes }) : t("accept");
    const buttons = {
      2: [button("accept", accept, "primary"), button("reject", t("reject"), "danger")],
      3: [button("deliver", t("deliver"), "primary")],
      4: [button("complete", t("complete"), "primary")],
    }[entry.order.status];
    const ticket = this.ticketButton ? [button("ticket", t("ticket"), "ticket")] : [];
    const footer = el("footer", { class: "actions" }, [...(buttons || []), ...ticket]);
    if (entry.order.status !== 2) return footer;
    return [this.prepChoices(entry), footer];
  }

  /** Accept with another prep time than the shop's usual one: one tap each. */
  prepChoices(entry) {
    const t = this.t;
    const id = entry.order.id;
    return el(
      "div",
      { class: "prep-choices", role: "group", "aria-label": t("prepTitle") },
      el("span", { class: "prep-title" }, t("prepTitle")),
      PREP_CHOICES.map((minutes) =>
        el(
          "button",
          {
            type: "button",
            class: `prep${minutes === this.prepMinutes ? " prep-default" : ""}`,
            disabled: entry.busy || this.offline,
            dataset: { prep: minutes },
            "aria-label": t("acceptWithPrep", { n: minutes }),
            onclick: () => this.onAction("accept", id, { prepMinutes: minutes }),
          },
          t("prepMinutes", { n: minutes }),
        ),
      ),
    );
  }

  replyBox(entry) {
    const t = this.t;
    const id = entry.order.id;
    const input = el("input", {
      type: "text",
      class: "custom-reply",
      maxLength: CUSTOM_REPLY_MAX,
      value: entry.draft,
      placeholder: t("customReply"),
      "aria-label": t("customReply"),
      disabled: entry.busy || this.offline,
      oninput: (event) => {
        entry.draft = event.target.value;
      },
    });
    const sendCustom = () => {
      const text = input.value.trim();
      if (!text) {
        input.focus();
        return;
      }
      this.onAction("reply", id, { reply: "custom", text });
    };
    return el(
      "div",
      { class: "reply-box" },
      el("p", { class: "reply-title" }, t("replyTitle")),
      el(
        "div",
        { class: "reply-choices" },
        REPLIES.map((reply) =>
          el(
            "button",
            {
              type: "button",
              class: "reply",
              disabled: entry.busy || this.offline,
              dataset: { reply },
              onclick: () => this.onAction("reply", id, { reply }),
            },
            t(`reply.${reply}`),
          ),
        ),
      ),
      el(
        "form",
        { class: "reply-custom", onsubmit: (event) => { event.preventDefault(); sendCustom(); } },
        input,
        el(
          "button",
          { type: "submit", class: "reply", disabled: entry.busy || this.offline, dataset: { reply: "custom" } },
          t("send"),
        ),
      ),
    );
  }
}
