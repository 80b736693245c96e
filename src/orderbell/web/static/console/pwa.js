// The console as an installed app: its service worker (sw.js, scope /console),
// Web Push (subscribe once notifications are allowed, and hand the subscription
// to the server with this device's id), an "offline" banner when the server
// cannot be reached, and notifications that ask to open an order.

/** The VAPID key as PushManager.subscribe wants it. */
function keyBytes(base64url) {
  const text = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(text + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function sameKey(subscription, key) {
  const current = subscription.options && subscription.options.applicationServerKey;
  if (!current) return true;
  const a = new Uint8Array(current);
  if (a.length !== key.length) return false;
  return a.every((byte, i) => byte === key[i]);
}

/** Focus an order's card once the board shows it (the page opened from a notification). */
export function focusWhenShown(orderId, focus, tries = 40) {
  if (document.querySelector(`.card[data-order-id="${Number(orderId)}"]`)) focus(orderId);
  else if (tries > 0) setTimeout(() => focusWhenShown(orderId, focus, tries - 1), 250);
}

export class Pwa {
  /**
   * base: the page's base URL; onOpenOrder(orderId): a notification asks for an order;
   * onChange(): the push or offline state changed.
   */
  constructor({ base, onOpenOrder, onChange }) {
    this.base = base;
    this.onOpenOrder = onOpenOrder;
    this.onChange = onChange;
    this.registration = null;
    /** "unsupported", "off" (not allowed yet), "subscribing", "subscribed" or "failed". */
    this.push = this.supported ? "off" : "unsupported";
    this.offline = false;
    /** Set while the console is not connected: the server is then checked now and then. */
    this.suspect = false;
    this.subscriptionId = null;
    this.api = null;
    this.deviceId = null;
  }

  get supported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  /** Register the service worker (once per page). */
  async register() {
    if (!("serviceWorker" in navigator)) return null;
    try {
      this.registration = await navigator.serviceWorker.register(new URL("console/sw.js", this.base), {
        scope: new URL("console", this.base).pathname,
      });
    } catch (error) {
      console.warn("orderbell: the service worker did not register", error);
      return null;
    }
    navigator.serviceWorker.addEventListener("message", (event) => {
      const data = event.data || {};
      if (data.type === "openOrder" && Number.isInteger(data.orderId)) this.onOpenOrder(data.orderId);
    });
    return this.registration;
  }

  /** The order a notification opened this page on (?order=N), once. */
  takeOrderFromUrl() {
    const url = new URL(location.href);
    const id = Number(url.searchParams.get("order"));
    if (!url.searchParams.has("order")) return null;
    url.searchParams.delete("order");
    history.replaceState(null, "", url.href);
    return Number.isInteger(id) && id > 0 ? id : null;
  }

  /** Subscribe to Web Push for this device, if notifications are allowed. */
  async subscribe(api, deviceId) {
    this.api = api;
    this.deviceId = deviceId;
    if (!this.supported || Notification.permission !== "granted") {
      this.set(this.supported ? "off" : "unsupported");
      return false;
    }
    if (this.push === "subscribing") return false;
    this.set("subscribing");
    try {
      const registration = this.registration || (await navigator.serviceWorker.ready);
      const { publicKey } = await api.call("GET", "admin/push/key");
      const key = keyBytes(publicKey);
      let subscription = await registration.pushManager.getSubscription();
      if (subscription && !sameKey(subscription, key)) {
        // The deployment's key changed (a new database): the old subscription is useless.
        await subscription.unsubscribe();
        subscription = null;
      }
      if (!subscription) {
        subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      }
      const saved = await api.call("POST", "admin/push/subscriptions", { ...subscription.toJSON(), deviceId });
      this.subscriptionId = saved.id;
      this.set("subscribed");
      return true;
    } catch (error) {
      console.warn("orderbell: push subscription failed", error);
      this.set("failed");
      return false;
    }
  }

  set(state) {
    if (this.push === state) return;
    this.push = state;
    this.onChange();
  }

  /** Whether the server answers; shows the offline banner when it does not. */
  async checkServer() {
    let offline = false;
    try {
      const response = await fetch(new URL("healthz", this.base), { cache: "no-store" });
      offline = !response.ok;
    } catch {
      offline = true;
    }
    if (!navigator.onLine) offline = true;
    if (offline !== this.offline) {
      this.offline = offline;
      this.onChange();
    }
    return !offline;
  }

  /** Watch the network: an "offline" banner at the top of the page (made here), checked
   * now, on online/offline events, and every few seconds while offline. */
  watchServer(text) {
    const banner = document.createElement("div");
    banner.id = "page-offline";
    banner.className = "page-offline";
    banner.setAttribute("role", "alert");
    banner.hidden = true;
    document.body.prepend(banner);
    const render = () => {
      // A logged-in console says so in its own banner (offline.js): one is enough.
      const consoleSays = document.querySelector("#offline-banner:not([hidden])") !== null;
      banner.hidden = !this.offline || consoleSays;
      banner.textContent = text();
    };
    const check = async () => {
      await this.checkServer();
      render();
    };
    window.addEventListener("online", check);
    window.addEventListener("offline", check);
    setInterval(() => {
      if (this.offline || this.suspect) check();
    }, 5000);
    check();
    return render;
  }
}
