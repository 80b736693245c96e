// The console's own settings, kept in localStorage so a reload remembers them.

import { LANGUAGES } from "./i18n.js";

const KEY = "orderbell.console.prefs";
export const DEFAULTS = Object.freeze({ lang: "zh", volume: 0.8, muted: false, repeatSeconds: 20, deviceName: "" });
// How long an order may wait before its timer turns amber, then red (minutes, stored as seconds).
export const WAIT_DEFAULTS = Object.freeze({ waitAmberSeconds: 180, waitRedSeconds: 480 });
export const WAIT_MAX_SECONDS = 24 * 3600;
export const DEVICE_NAME_MAX = 32;
export const REPEAT_MIN = 1;
export const REPEAT_MAX = 600;

function clamp(value, low, high, fallback) {
  const n = Number(value);
  return Number.isFinite(n) ? Math.min(high, Math.max(low, n)) : fallback;
}

/** The stored settings, each checked; anything missing or odd falls back to its default. */
export function loadPrefs() {
  let stored = {};
  try {
    stored = JSON.parse(localStorage.getItem(KEY) || "{}") || {};
  } catch {
    stored = {};
  }
  return {
    lang: LANGUAGES.includes(stored.lang) ? stored.lang : DEFAULTS.lang,
    volume: clamp(stored.volume, 0, 1, DEFAULTS.volume),
    muted: stored.muted === true,
    repeatSeconds: Math.round(
      clamp(stored.repeatSeconds, REPEAT_MIN, REPEAT_MAX, DEFAULTS.repeatSeconds),
    ),
    deviceName: cleanDeviceName(stored.deviceName),
    waitAmberSeconds: clamp(stored.waitAmberSeconds, 1, WAIT_MAX_SECONDS, WAIT_DEFAULTS.waitAmberSeconds),
    waitRedSeconds: clamp(stored.waitRedSeconds, 1, WAIT_MAX_SECONDS, WAIT_DEFAULTS.waitRedSeconds),
  };
}

/** Store the settings (a private window may refuse; the page then just forgets them). */
export function savePrefs(prefs) {
  try {
    localStorage.setItem(KEY, JSON.stringify(prefs));
  } catch {
    /* storage unavailable: settings last for this page only */
  }
}

export function clampRepeat(value) {
  return Math.round(clamp(value, REPEAT_MIN, REPEAT_MAX, DEFAULTS.repeatSeconds));
}

/** A device name as the shop's other devices will see it: trimmed, short, or "" for none. */
export function cleanDeviceName(value) {
  return typeof value === "string" ? value.trim().slice(0, DEVICE_NAME_MAX) : "";
}

/** A threshold typed in minutes (decimals allowed) as whole-ish seconds, within bounds. */
export function minutesToSeconds(value, fallback) {
  return clamp(Math.round(Number(value) * 60 * 10) / 10, 1, WAIT_MAX_SECONDS, fallback);
}
