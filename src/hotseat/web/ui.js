// Small shared pieces of the page: element creation, the notice, the connection status, the
// screen-reader announcer and the auto-scroll that follows the stream.

export const $ = (selector, root = document) => root.querySelector(selector);

/** h("p.muted", {id: "x"}, "text", child): an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** svg("rect", {x: 1}): an SVG element (attributes only; SVG presentation attributes are CSP-safe). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// -- the notice ------------------------------------------------------------------------------

export function showNotice(message, { tone = "error" } = {}) {
  const notice = $("#notice");
  $("#notice-text").textContent = message;
  notice.dataset.tone = tone;
  notice.hidden = false;
}

export function clearNotice() {
  $("#notice").hidden = true;
  $("#notice-text").textContent = "";
}

// -- the connection status ---------------------------------------------------------------------

export function setConn(state, text, detail = "") {
  const conn = $("#conn");
  conn.dataset.state = state;
  $("#conn-text").textContent = text;
  conn.title = detail;
}

// -- the live region ------------------------------------------------------------------------------

const KEEP_ANNOUNCEMENTS = 6;

/** Queue words for screen readers (the region is aria-live="polite"; one paragraph per call). */
export function announce(text) {
  const region = $("#announcer");
  if (!region || !text) return;
  region.append(h("p", { text }));
  while (region.childElementCount > KEEP_ANNOUNCEMENTS) region.firstElementChild.remove();
}

export function clearAnnouncements() {
  $("#announcer")?.replaceChildren();
}

// -- following the stream -------------------------------------------------------------------------------

const AT_END_PX = 8;

/**
 * Keeps the page scrolled to the end while new text arrives, unless the reader scrolled up;
 * scrolling back to the end resumes it. `onChange(following)` reports the state.
 */
class Follower {
  constructor() {
    this.following = true;
    this.lastTop = 0;
    this.listeners = new Set();
    window.addEventListener("scroll", () => this.onScroll(), { passive: true });
  }

  distanceToEnd() {
    const doc = document.scrollingElement;
    return doc.scrollHeight - doc.scrollTop - doc.clientHeight;
  }

  onScroll() {
    const top = document.scrollingElement.scrollTop;
    if (this.distanceToEnd() <= AT_END_PX) this.set(true);
    else if (top < this.lastTop - 1) this.set(false); // the reader scrolled up
    this.lastTop = top;
  }

  set(following) {
    if (following === this.following) return;
    this.following = following;
    for (const listener of this.listeners) listener(following);
  }

  /** Content grew: stay at the end if following. */
  update() {
    if (this.following && this.distanceToEnd() > 0) this.toEnd();
  }

  toEnd() {
    const doc = document.scrollingElement;
    doc.scrollTop = doc.scrollHeight;
    this.lastTop = doc.scrollTop;
    this.set(true);
  }
}

export const follower = new Follower();

export function plural(count, word, words = `${word}s`) {
  return `${count} ${count === 1 ? word : words}`;
}

// The report's verdicts in words (the same as the Markdown export's): report.js and progress.js.
export const VERDICT_TEXT = {
  demonstrated: "shown",
  partial: "partly shown",
  not_shown: "not shown",
  contradicted: "contradicted",
};
