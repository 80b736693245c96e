// Building elements without markup strings: text goes in as textContent, so
// whatever a customer typed is shown as typed and never parsed as HTML.

/**
 * el("p", {class: "x", dataset: {orderId: 3}, onclick: fn}, "text", child)
 * Strings and numbers become text nodes; null/undefined/false are skipped.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) {
      // Handlers only as functions: an attribute string would be code from data.
      if (typeof value !== "function") throw new TypeError(`${key} must be a function`);
      node.addEventListener(key.slice(2), value);
    } else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace all children of `node` by `children`. */
export function replaceChildren(node, ...children) {
  node.replaceChildren();
  append(node, children);
}
