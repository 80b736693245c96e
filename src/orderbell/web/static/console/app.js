// The merchant console page: login, the views, settings; the shop's alerts
// themselves are handled by ShopConsole (shop-console.js).

import { login } from "./api.js";
import { Board, tail } from "./board.js";
import { el, replaceChildren } from "./dom.js";
import { HTML_LANG, SPEECH_LANG, applyTranslations, translator } from "./i18n.js";
import { OrderHistory } from "./history.js";
import { isShopOrder, onePerOrder, ordersNeedingAction } from "./notices.js";
import { OfflineWatch } from "./offline.js";
import {
  WAIT_DEFAULTS,
  clampOfflineAlarm,
  clampRepeat,
  cleanDeviceName,
  loadPrefs,
  minutesToSeconds,
  savePrefs,
} from "./prefs.js";
import { Pwa, focusWhenShown } from "./pwa.js";
import { Readiness } from "./readiness.js";
import { Ringer } from "./ringer.js";
import { ShopConsole } from "./shop-console.js";
import { Sound } from "./sound.js";
import { TodayPanel } from "./today.js";
import { WaitTimers } from "./timers.js";

const SESSION_KEY = "orderbell.console.session";
const SID_KEY = "orderbell.console.sid";
const TOAST_MS = 6000;
const MAX_NOTICES = 8;
// What this page reports as its app version in its status frame.
const APP_VERSION = "console/1";

const $ = (id) => document.getElementById(id);
const base = new URL(".", document.baseURI);
const prefs = loadPrefs();
let t = translator(prefs.lang);
const sound = new Sound(prefs);
const ringer = new Ringer(() => ringAgain(), prefs.repeatSeconds);
const timers = new WaitTimers({
  t,
  thresholds: () => ({ amberSeconds: prefs.waitAmberSeconds, redSeconds: prefs.waitRedSeconds }),
});
const board = new Board($("board"), {
  t,
  onAction: (kind, id, extra) => onCardAction(kind, id, extra),
  decorate: (node, order) => timers.show(node, order),
});
const offline = new OfflineWatch({
  alarm: () => sound.chime("offline"),
  alarmSeconds: () => prefs.offlineAlarmSeconds,
  onChange: (down) => {
    $("offline-banner").hidden = !down;
    $("console-view").classList.toggle("disconnected", down);
    board.setOffline(down);
  },
});
const orderHistory = new OrderHistory({
  nodes: {
    panel: $("history"),
    states: $("history-states"),
    list: $("history-list"),
    detail: $("history-detail"),
    query: $("history-query"),
    form: $("history-search"),
  },
  api: () => (shop ? shop.api : null),
  t,
});
let shop = null; // the running ShopConsole, while logged in
let connection = { state: "connecting", retryAt: null };
let openAlerts = [];
let toastTimer = null;
let rejecting = null;
let presence = null; // the latest presence frame: the shop's devices
let today = null; // the "today" panel, while logged in
let printerWarnings = []; // one line per printer that does not print (offline, paper out)
let printerTimer = null; // looks at the shop's printers again every PRINTER_LOOK_MS
const PRINTER_LOOK_MS = 30_000;
let shopProfile = null; // {id, name, prepMinutes} of GET admin/shop/profile
let readiness = null; // the shift overlay, wake lock and readiness panel (readiness.js)
const pwa = new Pwa({ base, onOpenOrder: (id) => board.focus(id), onChange: () => readiness?.refresh() });

// --- session -------------------------------------------------------------

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (s && typeof s.token === "string" && s.token && Number.isInteger(s.shopId)) return s;
  } catch {
    /* a broken entry is no session */
  }
  return null;
}

function consoleId() {
  let sid = sessionStorage.getItem(SID_KEY);
  if (!sid) {
    sid = Array.from(crypto.getRandomValues(new Uint8Array(9)), (b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem(SID_KEY, sid);
  }
  return sid;
}

/** This device's id among the shop's devices: the name it was given, or its console id. */
function deviceId() {
  return prefs.deviceName || consoleId();
}

function showLogin(message = "") {
  $("console-view").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message;
  renderSound();
  $("login-username").focus();
}

async function onLoginSubmit(event) {
  event.preventDefault();
  const button = $("login-submit");
  button.disabled = true;
  button.textContent = t("loggingIn");
  $("login-error").textContent = "";
  try {
    const data = await login(base, $("login-username").value.trim(), $("login-password").value);
    if (!Number.isInteger(data.shopId)) throw new Error(t("notMerchant"));
    const session = {
      token: data.token,
      shopId: data.shopId,
      name: data.name || data.userName || "",
      shopName: data.shopName || "",
    };
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    $("login-password").value = "";
    start(session);
  } catch (error) {
    $("login-error").textContent = t("loginFailed", { msg: error.message || t("networkError") });
  } finally {
    button.disabled = false;
    button.textContent = t("login");
  }
}

function start(session) {
  $("login-view").hidden = true;
  $("console-view").hidden = false;
  showShopName(session.shopName, session.name);
  board.clear();
  shop = new ShopConsole({ base, session, sid: consoleId(), deviceId: deviceId(), board, sound, ringer, ui });
  shop.start();
  today = new TodayPanel($("today"), { api: shop.api, lang: () => prefs.lang });
  today.start();
  loadProfile(shop);
  loadPrinters(shop);
  clearInterval(printerTimer);
  printerTimer = setInterval(() => shop && loadPrinters(shop), PRINTER_LOOK_MS);
  renderSound();
  readiness.start();
  pwa.subscribe(shop.api, deviceId());
  const wanted = pwa.takeOrderFromUrl();
  if (wanted) focusWhenShown(wanted, (id) => board.focus(id));
}

/** The shop's name in the header, and the logged-in employee smaller beside it. */
function showShopName(shopName, employee) {
  $("shop-name").textContent = shopName || employee;
  $("employee-name").textContent = shopName ? employee : "";
}

/** The shop's profile (its name, its usual prep time), also for a session from before login gave it. */
async function loadProfile(running) {
  loadLadder(running);
  try {
    const profile = await running.api.profile();
    if (shop !== running || !profile) return;
    showProfile(profile);
    const session = loadSession();
    if (session && profile.name) showShopName(profile.name, session.name);
  } catch {
    /* the header keeps what the login said */
  }
}

/** The shop's ladder: a waiting card also shows the time left before its auto-cancel. */
async function loadLadder(running) {
  try {
    const ladder = await running.api.escalation();
    if (shop !== running || !ladder) return;
    const minutes = ladder.autoCancelMinutes;
    timers.autoCancelSeconds = Number.isInteger(minutes) && minutes > 0 ? minutes * 60 : null;
    timers.tick();
  } catch {
    timers.autoCancelSeconds = null; // the cards show the time waited only
  }
}

function showProfile(profile) {
  shopProfile = profile;
  board.setPrepMinutes(profile?.prepMinutes);
  $("settings-prep").value = profile ? String(profile.prepMinutes) : "";
}

/** Leave the console: logout, or the server refused the token. */
function end(message = "") {
  if (shop) shop.stop();
  shop = null;
  timers.autoCancelSeconds = null;
  if (today) today.stop();
  today = null;
  clearInterval(printerTimer);
  printerWarnings = [];
  board.setTicketButton(false);
  readiness.stop();
  ringer.stop();
  offline.stop();
  sessionStorage.removeItem(SESSION_KEY);
  board.clear();
  showProfile(null);
  orderHistory.close();
  $("history-toggle").setAttribute("aria-expanded", "false");
  renderNotices([]);
  renderAttention(0);
  renderDevices(null);
  renderWebhooks([]);
  closeReject();
  showLogin(message);
}

// --- what ShopConsole shows through ---------------------------------------

const ui = {
  get t() {
    return t;
  },
  speechLang: () => SPEECH_LANG[prefs.lang],
  connection(status) {
    connection = status;
    renderConnection();
    offline.update(status.state);
  },
  notices: (alerts) => {
    timers.setAlerts(alerts);
    renderNotices(alerts);
  },
  attention: (count) => renderAttention(count),
  desktop: (alert) => notifyDesktop(alert),
  toast: (text) => toast(text),
  refused: (code) => end(code === 4403 ? t("notMerchant") : t("sessionExpired")),
  deviceStatus: () => ({
    sound: sound.state === "on",
    visible: document.visibilityState === "visible",
    notifications: "Notification" in window ? Notification.permission : "denied",
    volume: prefs.muted ? 0 : prefs.volume,
    appVersion: APP_VERSION,
    ...(readiness ? readiness.status() : {}),
  }),
  presence: (frame) => renderDevices(frame),
  webhooks: (endpoints) => renderWebhooks(endpoints.filter((e) => e && e.enabled === false)),
  webhookDisabled: (frame) =>
    renderWebhooks([
      ...disabledWebhooks.filter((e) => e.id !== frame.endpointId),
      { id: frame.endpointId, url: frame.url, disabledReason: frame.reason },
    ]),
};

let disabledWebhooks = []; // the shop's webhook endpoints that were disabled

/** A warning for each of the shop's webhook endpoints that was disabled for failing. */
function renderWebhooks(endpoints) {
  disabledWebhooks = endpoints;
  const list = $("webhook-warnings");
  replaceChildren(
    list,
    endpoints.map((e) =>
      el(
        "li",
        { class: "device-warning webhook-warning", "data-endpoint": String(e.id) },
        t("webhookWarning", { url: String(e.url), reason: String(e.disabledReason || "") }),
      ),
    ),
  );
  list.hidden = endpoints.length === 0;
}

/** The shop's devices online, and a warning for each other device that cannot be heard. */
function renderDevices(frame) {
  presence = frame;
  const pill = $("devices");
  const list = $("device-warnings");
  if (!frame) {
    pill.hidden = true;
    replaceChildren(
      list,
      printerWarnings.map((text) => el("li", { class: "device-warning printer-warning" }, text)),
    );
    list.hidden = printerWarnings.length === 0;
    return;
  }
  const online = Number.isInteger(frame.online) ? frame.online : (frame.devices || []).length;
  pill.textContent = t("devicesOnline", { n: online });
  pill.hidden = false;
  const me = deviceId();
  const warnings = [];
  for (const device of frame.devices || []) {
    if (!device || device.deviceId === me) continue;
    const name = String(device.deviceId);
    if (device.sound === false) warnings.push(t("deviceWarning.sound", { name }));
    else if (device.visible === false) warnings.push(t("deviceWarning.hidden", { name }));
  }
  replaceChildren(list, [
    ...warnings.map((text) => el("li", { class: "device-warning" }, text)),
    ...printerWarnings.map((text) => el("li", { class: "device-warning printer-warning" }, text)),
  ]);
  list.hidden = warnings.length + printerWarnings.length === 0;
  readiness?.showOthers(frame.devices || [], me);
}

function renderConnection() {
  const node = $("connection");
  node.dataset.state = connection.state;
  let text = t(`conn.${connection.state}`);
  if (connection.retryAt && connection.state !== "connected") {
    const seconds = Math.max(0, Math.ceil((connection.retryAt - Date.now()) / 1000));
    if (seconds > 0) text += ` · ${t("retryIn", { n: seconds })}`;
  }
  node.textContent = text;
}

function renderSound() {
  const state = sound.state;
  const button = $("sound-status");
  button.dataset.state = state;
  button.textContent = t(`sound.${state}`);
  $("sound-gate").hidden = state !== "off" || !shop;
}

function renderNotices(all) {
  openAlerts = all;
  // One chip per order that needs action, newest first: the board below must stay in view.
  const alerts = onePerOrder(all);
  const items = alerts.slice(0, MAX_NOTICES).map((alert) => {
    const isNew = alert.type === 1;
    const own = isShopOrder(alert);
    const text = t(isNew ? "notice.new" : "notice.reminder", { content: alert.content });
    return el(
      "li",
      {
        class: `notice ${isNew ? "notice-new" : "notice-reminder"}${own ? "" : " notice-external"}`,
        dataset: { seq: alert.seq, orderId: alert.orderId ?? "" },
        title: own ? text : `${text} · ${t("dismiss")}`,
        "aria-label": text,
        tabIndex: 0,
        // No card for another system's order: its notice is all there is, until put away.
        onclick: () => (own ? board.focus(alert.orderId) : shop && shop.dismiss(alert.seq)),
      },
      el("strong", { class: "notice-kind" }, t(isNew ? "flag.new" : "flag.reminder")),
      el("span", { class: "notice-order" }, own ? `#${tail(alert.orderNumber)}` : alert.content),
      !own && el("span", { class: "notice-dismiss", "aria-hidden": "true" }, "✕"),
    );
  });
  if (alerts.length > MAX_NOTICES) {
    items.push(el("li", { class: "notice notice-more" }, t("moreNotices", { n: alerts.length - MAX_NOTICES })));
  }
  replaceChildren($("notices"), items);
  $("notices").hidden = items.length === 0;
}

function renderAttention(count) {
  const title = `${t("title")} · orderbell`;
  document.title = count > 0 ? `(${count}) ${title}` : title;
}

function notifyDesktop(alert) {
  if (document.visibilityState !== "hidden" || !("Notification" in window)) return;
  if (Notification.permission !== "granted") return;
  const isNew = alert.type === 1;
  try {
    const note = new Notification(`${t(isNew ? "desktop.new" : "desktop.reminder")} #${tail(alert.orderNumber)}`, {
      body: t(isNew ? "notice.new" : "notice.reminder", { content: alert.content }),
      tag: `orderbell-${alert.shopId}-${alert.seq}`,
      lang: HTML_LANG[prefs.lang],
    });
    note.onclick = () => {
      window.focus();
      if (isShopOrder(alert)) board.focus(alert.orderId);
      note.close();
    };
  } catch {
    /* some browsers allow notifications only from a service worker */
  }
}

function toast(text) {
  const node = $("toast");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    node.hidden = true;
  }, TOAST_MS);
}

// --- card actions and the reject dialog ----------------------------------

function onCardAction(kind, orderId, extra) {
  if (!shop || offline.down) return;
  if (kind === "ticket") openTicket(orderId);
  else if (kind === "reject") openReject(orderId);
  else if (kind === "accept") shop.act(kind, orderId, { prepMinutes: extra?.prepMinutes ?? shopProfile?.prepMinutes });
  else shop.act(kind, orderId, extra);
}

/** The order's kitchen ticket as text, for a shop without a printer. */
async function openTicket(orderId) {
  const running = shop;
  try {
    const ticket = await running.api.ticket(orderId);
    if (shop !== running || !ticket) return;
    $("ticket-text").textContent = ticket.text;
    const dialog = $("ticket-dialog");
    if (!dialog.open) dialog.showModal();
  } catch {
    /* the order is gone or the server is away: nothing to show */
  }
}

/** The shop's printers: a "ticket" button on cards when it has none, a warning
 * beside the devices' for each printer that does not print. */
async function loadPrinters(running) {
  try {
    const devices = await running.api.devices();
    if (shop !== running || !Array.isArray(devices)) return;
    const printers = devices.filter((d) => d && d.kind === "printer");
    board.setTicketButton(printers.length === 0);
    printerWarnings = printers.filter((p) => p.warning).map((p) => String(p.warning));
    renderDevices(presence);
  } catch {
    /* kept as it was; the next look may do better */
  }
}

function openReject(orderId) {
  const dialog = $("reject-dialog");
  rejecting = orderId;
  const card = document.querySelector(`.card[data-order-id="${Number(orderId)}"] .tail`);
  $("reject-dialog").querySelector(".reject-order").textContent = card ? card.textContent : "";
  $("reject-form").reset();
  if (!dialog.open) dialog.showModal();
}

function closeReject() {
  rejecting = null;
  const dialog = $("reject-dialog");
  if (dialog.open) dialog.close();
}

function onRejectSubmit(event) {
  event.preventDefault();
  const form = $("reject-form");
  const choice = form.elements.reason.value;
  const other = $("reject-other");
  const reason = choice === "other" ? other.value.trim() : t(`rejectReason.${choice}`);
  if (!reason) {
    other.focus();
    return;
  }
  const orderId = rejecting;
  closeReject();
  if (shop && orderId !== null) shop.act("reject", orderId, { reason });
}

// --- sound and settings ---------------------------------------------------

async function enableSound() {
  const wasOff = sound.state === "off";
  await sound.enable();
  if (wasOff && sound.ready) {
    sound.chime("check");
    // Orders waiting from before the sound was on ring now, not only at the next repeat.
    if (shop && shop.ringing) setTimeout(() => sound.chime("order"), 300);
  }
}

/** An order still waits: the chime again, and the spoken line with it unless switched off. */
function ringAgain() {
  const length = sound.chime("order");
  if (!prefs.repeatVoice) return;
  // Said once the chime has rung out, unless the order was accepted meanwhile.
  setTimeout(() => {
    if (shop && shop.ringing) sound.speak(t("speakNew"), SPEECH_LANG[prefs.lang]);
  }, length);
}

function setLanguage(lang) {
  prefs.lang = lang;
  savePrefs(prefs);
  t = translator(lang);
  document.documentElement.lang = HTML_LANG[lang];
  applyTranslations(document, t);
  for (const select of document.querySelectorAll(".lang-select")) select.value = lang;
  timers.t = t;
  orderHistory.setTranslator(t);
  board.setTranslator(t);
  renderConnection();
  renderSound();
  renderNotices(openAlerts);
  renderAttention(ordersNeedingAction(openAlerts));
  renderNotificationState();
  renderDevices(presence);
  if (today) today.render();
  if (!$("login-submit").disabled) $("login-submit").textContent = t("login");
}

function renderNotificationState() {
  const button = $("allow-notifications");
  const state = $("notifications-state");
  if (!("Notification" in window)) {
    button.hidden = true;
    state.textContent = t("notifications.unsupported");
    return;
  }
  const permission = Notification.permission;
  button.hidden = permission !== "default";
  const answer = permission === "granted" ? "granted" : "denied";
  state.textContent = permission === "default" ? "" : t(`notifications.${answer}`);
}

function wire() {
  $("login-form").addEventListener("submit", onLoginSubmit);
  for (const id of ["logout", "settings-logout"]) {
    $(id).addEventListener("click", () => {
      if (shop) shop.api.logout();
      end();
    });
  }
  $("enable-sound").addEventListener("click", enableSound);
  $("sound-status").addEventListener("click", () => {
    if (sound.state === "off") enableSound();
    else {
      $("settings-mute").checked = !prefs.muted;
      $("settings-mute").dispatchEvent(new Event("change"));
    }
  });
  $("history-toggle").addEventListener("click", () => {
    $("history-toggle").setAttribute("aria-expanded", String(orderHistory.toggle()));
  });
  $("settings-toggle").addEventListener("click", () => {
    const panel = $("settings");
    panel.hidden = !panel.hidden;
    $("settings-toggle").setAttribute("aria-expanded", String(!panel.hidden));
  });
  for (const select of document.querySelectorAll(".lang-select")) {
    select.addEventListener("change", () => setLanguage(select.value));
  }
  $("settings-volume").addEventListener("input", (event) => {
    prefs.volume = Number(event.target.value) / 100;
    sound.setVolume(prefs.volume);
    savePrefs(prefs);
  });
  $("settings-mute").addEventListener("change", (event) => {
    prefs.muted = event.target.checked;
    sound.setMuted(prefs.muted);
    savePrefs(prefs);
    reportStatus();
  });
  $("settings-volume").addEventListener("change", reportStatus);
  $("settings-device-name").addEventListener("change", (event) => {
    const name = cleanDeviceName(event.target.value);
    event.target.value = name;
    if (name === prefs.deviceName) return;
    prefs.deviceName = name;
    savePrefs(prefs);
    // The device id is part of the connection: connect again under the new name.
    const session = loadSession();
    if (shop && session) {
      shop.stop();
      start(session);
    }
  });
  document.addEventListener("visibilitychange", reportStatus);
  $("settings-repeat").addEventListener("change", (event) => {
    prefs.repeatSeconds = clampRepeat(event.target.value);
    event.target.value = String(prefs.repeatSeconds);
    ringer.periodSeconds = prefs.repeatSeconds;
    savePrefs(prefs);
  });
  for (const [id, key] of [
    ["settings-wait-amber", "waitAmberSeconds"],
    ["settings-wait-red", "waitRedSeconds"],
  ]) {
    $(id).addEventListener("change", (event) => {
      prefs[key] = minutesToSeconds(event.target.value, WAIT_DEFAULTS[key]);
      event.target.value = String(prefs[key] / 60);
      savePrefs(prefs);
      timers.tick();
    });
  }
  $("settings-repeat-voice").addEventListener("change", (event) => {
    prefs.repeatVoice = event.target.checked;
    savePrefs(prefs);
  });
  $("settings-offline-alarm").addEventListener("change", (event) => {
    prefs.offlineAlarmSeconds = clampOfflineAlarm(event.target.value);
    event.target.value = String(prefs.offlineAlarmSeconds);
    savePrefs(prefs);
    if (offline.down) offline.schedule();
  });
  $("settings-prep").addEventListener("change", async (event) => {
    const minutes = Math.round(Number(event.target.value));
    if (!shop || !Number.isInteger(minutes) || minutes < 1 || minutes > 180) {
      event.target.value = shopProfile ? String(shopProfile.prepMinutes) : "";
      return;
    }
    try {
      showProfile(await shop.api.setPrepMinutes(minutes));
    } catch (error) {
      toast(t("actionFailed", { msg: error.message || t("networkError") }));
    }
  });
  $("settings-test").addEventListener("click", async () => {
    await sound.enable();
    sound.announce("order", t("speakNew"), SPEECH_LANG[prefs.lang]);
  });
  $("allow-notifications").addEventListener("click", async () => {
    if ("Notification" in window) await Notification.requestPermission();
    renderNotificationState();
    reportStatus();
  });
  $("reject-form").addEventListener("submit", onRejectSubmit);
  $("reject-cancel").addEventListener("click", closeReject);
  $("reject-dialog").addEventListener("close", () => {
    rejecting = null;
  });
  $("reject-other").addEventListener("focus", () => {
    $("reject-form").elements.reason.value = "other";
  });
  // Any click or key press may also switch sound on (the browser's rule is "after a gesture").
  // Not on pointerdown: hiding the sound banner then would move the page under the finger.
  for (const type of ["click", "keydown"]) {
    document.addEventListener(type, (event) => {
      if (event.target.closest?.("#enable-sound, #sound-status, #settings-test")) return;
      if (shop && sound.state === "off") enableSound();
    });
  }
  sound.onChange(() => {
    renderSound();
    reportStatus();
  });
  // Keep the retry countdown of the indicator current.
  setInterval(() => {
    if (connection.retryAt && connection.state !== "connected") renderConnection();
  }, 1000);
}

function reportStatus() {
  if (shop) shop.reportStatus();
}

/** The full alert, as an order rings: the chime and the spoken line. */
async function testRing() {
  await enableSound();
  sound.announce("order", t("speakNew"), SPEECH_LANG[prefs.lang]);
}

function boot() {
  readiness = new Readiness({
    lang: () => prefs.lang,
    active: () => Boolean(shop),
    sound,
    muted: () => prefs.muted,
    volume: () => prefs.volume,
    connection: () => connection.state,
    enableSound,
    testRing,
    reportStatus,
    pwa,
    subscribePush: () => shop && pwa.subscribe(shop.api, deviceId()),
  });
  pwa.register();
  pwa.watchServer(() => readiness.offlineText());
  $("settings-volume").value = String(Math.round(prefs.volume * 100));
  $("settings-device-name").value = prefs.deviceName;
  $("settings-mute").checked = prefs.muted;
  $("settings-repeat").value = String(prefs.repeatSeconds);
  $("settings-repeat-voice").checked = prefs.repeatVoice;
  $("settings-offline-alarm").value = String(prefs.offlineAlarmSeconds);
  $("settings-wait-amber").value = String(prefs.waitAmberSeconds / 60);
  $("settings-wait-red").value = String(prefs.waitRedSeconds / 60);
  timers.start();
  wire();
  setLanguage(prefs.lang);
  const session = loadSession();
  if (session) start(session);
  else showLogin();
}

boot();
