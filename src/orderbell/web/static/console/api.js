// The merchant HTTP API, with its {"code","msg","data"} envelope unpacked.

/** A refused or failed request; `status` is the HTTP status (0: no answer at all). */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

const OPEN_STATUSES = [2, 3, 4];

async function request(base, method, path, { token, body } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.token = token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(new URL(path, base), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError("", 0);
  }
  let envelope = null;
  try {
    envelope = await response.json();
  } catch {
    envelope = null;
  }
  if (!response.ok || !envelope || envelope.code !== 1) {
    throw new ApiError((envelope && envelope.msg) || response.statusText, response.status);
  }
  return envelope.data;
}

/** Log a merchant in; resolves to the login data (token, shopId, name, ...). */
export function login(base, username, password) {
  return request(base, "POST", "admin/employee/login", { body: { username, password } });
}

/** The API as one logged-in merchant; `onUnauthorized` runs when the token stops working. */
export class Api {
  constructor(base, token, onUnauthorized) {
    this.base = base;
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  async call(method, path, body) {
    try {
      return await request(this.base, method, path, { token: this.token, body });
    } catch (error) {
      if (error.status === 401 || error.status === 403) this.onUnauthorized(error.status);
      throw error;
    }
  }

  /** Orders the shop still has to deal with: waiting, accepted, out for delivery. */
  async openOrders() {
    const pages = await Promise.all(
      OPEN_STATUSES.map((status) =>
        this.call("GET", `admin/order/conditionSearch?status=${status}&page=1&pageSize=100`),
      ),
    );
    return pages.flatMap((page) => page.records || []);
  }

  /** The shop's alerts nobody has handled, as alert frames. */
  unhandled() {
    return this.call("GET", "admin/alert/unhandled");
  }

  /** A page of the shop's orders (`params`: URLSearchParams of conditionSearch). */
  search(params) {
    return this.call("GET", `admin/order/conditionSearch?${params}`);
  }

  /** Every alert of one order, oldest first, with who handled it. */
  orderAlerts(orderId) {
    return this.call("GET", `admin/alert/order/${encodeURIComponent(orderId)}`);
  }

  details(orderId) {
    return this.call("GET", `admin/order/details/${encodeURIComponent(orderId)}`);
  }

  /** Accept an order; with `prepMinutes` the customer is told it comes that many minutes from now. */
  confirm(orderId, prepMinutes) {
    const body = { id: orderId };
    if (Number.isInteger(prepMinutes)) body.prepMinutes = prepMinutes;
    return this.call("PUT", "admin/order/confirm", body);
  }

  reject(orderId, reason) {
    return this.call("PUT", "admin/order/rejection", { id: orderId, rejectionReason: reason });
  }

  deliver(orderId) {
    return this.call("PUT", `admin/order/delivery/${encodeURIComponent(orderId)}`);
  }

  complete(orderId) {
    return this.call("PUT", `admin/order/complete/${encodeURIComponent(orderId)}`);
  }

  /** Answer an order's reminders: a fixed choice, or "custom" with `text`. */
  reply(orderId, reply, text) {
    const body = { orderId, reply };
    if (reply === "custom") body.text = text;
    return this.call("PUT", "admin/alert/reply", body);
  }

  /** Put away an alert no order move settles (one of another order system), on every console. */
  dismiss(seq) {
    return this.call("PUT", "admin/alert/dismiss", { seq });
  }

  /** The shop's webhook endpoints (to warn about disabled ones). */
  webhooks() {
    return this.call("GET", "admin/webhooks");
  }

  /** The shop's escalation ladder: {warnSeconds, notifySeconds, notifyRepeatSeconds, autoCancelMinutes, ...}. */
  escalation() {
    return this.call("GET", "admin/shop/escalation");
  }

  /** The shop as its console shows it: {id, name, prepMinutes}. */
  profile() {
    return this.call("GET", "admin/shop/profile");
  }

  /** Set the shop's usual prep time (minutes): what accepting offers first, on every console. */
  setPrepMinutes(prepMinutes) {
    return this.call("PUT", "admin/shop/profile/prepMinutes", { prepMinutes });
  }

  /** An order's kitchen ticket as text: {width, columns, text, lines}. */
  ticket(orderId) {
    return this.call("GET", `admin/order/${Number(orderId)}/ticket`);
  }

  /** The shop's devices: consoles, then printers (kind "printer", with a warning). */
  devices() {
    return this.call("GET", "admin/shop/devices");
  }

  logout() {
    return this.call("POST", "admin/employee/logout").catch(() => null);
  }
}
