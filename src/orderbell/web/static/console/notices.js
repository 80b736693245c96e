// What the notice chips and the tab title count: orders that need action,
// not alerts. An order with three reminders is one chip, not three.

const NEW_ORDER = 1;

/**
 * Whether the alert is about an order of this shop in orderbell. Alerts raised
 * by another order system through the publish API (`source: "api"`) carry
 * that system's order id: there is no card to fetch, and no move here handles
 * them, so they are announced once and dismissed by hand instead of ringing on.
 */
export function isShopOrder(alert) {
  return !alert.source || alert.source === "order";
}

/** The key of an alert's notice: its order for the shop's orders, itself otherwise. */
function noticeKey(alert) {
  return isShopOrder(alert) && Number.isInteger(alert.orderId) ? `order:${alert.orderId}` : `seq:${alert.seq}`;
}

/**
 * One alert per order that needs action, from `alerts` (any order): the
 * order's newest new-order alert if it has one (accepting comes first),
 * else its newest reminder. Newest first; another system's alerts stay one each.
 */
export function onePerOrder(alerts) {
  const chosen = new Map();
  for (const alert of alerts) {
    const key = noticeKey(alert);
    const seen = chosen.get(key);
    const better =
      !seen ||
      (alert.type === NEW_ORDER && seen.type !== NEW_ORDER) ||
      ((alert.type === NEW_ORDER) === (seen.type === NEW_ORDER) && alert.seq > seen.seq);
    if (better) chosen.set(key, alert);
  }
  return [...chosen.values()].sort((a, b) => b.seq - a.seq);
}

/** How many orders (and other systems' alerts) need action. */
export function ordersNeedingAction(alerts) {
  return new Set(alerts.map(noticeKey)).size;
}
