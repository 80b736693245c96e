// The console's service worker, scope /console (the server fills in ASSETS and
// VERSION when it serves this file).
//
// - The page and its files are kept in a cache, so the console opens (and says
//   that it is offline) when the server cannot be reached. Online, the network
//   answers first: a new release is used at once.
// - Web Push: an alert nobody has seen on a visible console arrives here as a
//   push and is shown as a notification that stays until dismissed, one per
//   order (its tag); a reminder of the same order alerts again (renotify). A
//   "handled" push (the order was accepted on some device) closes it.
// - Clicking a notification focuses an open console on the order, or opens one.

const VERSION = "__VERSION__";
const ASSETS = "__ASSETS__";
const CACHE = `orderbell-console-${VERSION}`;
const PAGE = new URL("../console", self.location).href;
const ASSET_BASE = new URL("assets/", self.location).href;
const ICON = new URL("assets/icon-192.png", self.location).href;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const files = Array.isArray(ASSETS) ? ASSETS.map((name) => ASSET_BASE + name) : [];
      await cache.addAll([PAGE, ...files]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("orderbell-console-") && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

function isShell(url) {
  const bare = url.origin + url.pathname;
  return bare === PAGE || bare.startsWith(ASSET_BASE);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !isShell(url)) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(request);
        if (response.ok) cache.put(url.origin + url.pathname, response.clone());
        return response;
      } catch (error) {
        const kept = await cache.match(url.origin + url.pathname);
        if (kept) return kept;
        throw error;
      }
    })(),
  );
});

// --- Web Push ---------------------------------------------------------------

self.addEventListener("push", (event) => {
  let message = null;
  try {
    message = event.data ? event.data.json() : null;
  } catch {
    message = null;
  }
  event.waitUntil(onPush(message));
});

async function onPush(message) {
  if (message && message.kind === "handled") {
    const notes = await self.registration.getNotifications({ tag: message.tag });
    for (const note of notes) note.close();
    return;
  }
  if (!message || message.kind !== "alert") {
    await self.registration.showNotification("orderbell", { body: "", tag: "orderbell", icon: ICON });
    return;
  }
  await self.registration.showNotification(message.title || "orderbell", {
    body: message.body || "",
    tag: message.tag,
    renotify: Boolean(message.renotify),
    requireInteraction: true,
    icon: ICON,
    badge: ICON,
    vibrate: [300, 100, 300, 100, 300],
    timestamp: Date.now(),
    data: {
      shopId: message.shopId,
      seq: message.seq,
      type: message.type,
      orderId: message.orderId,
      orderNumber: message.orderNumber,
    },
  });
}

self.addEventListener("notificationclick", (event) => {
  const data = event.notification.data || {};
  event.notification.close();
  event.waitUntil(openOrder(Number.isInteger(data.orderId) ? data.orderId : null));
});

async function openOrder(orderId) {
  const target = new URL(PAGE);
  if (orderId !== null) target.searchParams.set("order", String(orderId));
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    const url = new URL(client.url);
    if (url.origin + url.pathname !== PAGE) continue;
    const focused = "focus" in client ? await client.focus() : client;
    (focused || client).postMessage({ type: "openOrder", orderId });
    return;
  }
  await self.clients.openWindow(target.href);
}
