// Markdown for the interviewer's turns: parsed by markdown-it, sanitised by DOMPurify, and
// rendered incrementally while it streams.
//
// The model's output is untrusted. Three layers keep it inert:
//   1. markdown-it runs with `html: false`, so raw HTML in the text is shown as text, and its
//      link validator refuses javascript:, vbscript:, file: and data: URLs;
//   2. DOMPurify then sanitises the HTML against a short allow-list of the tags markdown-it
//      emits, and a hook drops any href that is not http(s), mailto or relative and makes every
//      link open in a new tab with rel="noopener noreferrer";
//   3. the page's Content-Security-Policy allows no inline script at all.
//
// Streaming: the text is cut into blocks at blank lines outside code fences (and only where the
// next line starts at the margin, so indented list continuations stay with their list). A block
// that is complete is parsed and inserted once and never touched again; only the last, growing
// block is re-rendered, at most once per animation frame. When the turn ends, the whole text is
// parsed once: if that differs from the blocks (a loose list split by a blank line, say) the
// message is replaced by it, so the final DOM is always exactly the canonical rendering.

import MarkdownIt from "./vendor/markdown-it/markdown-it.esm.min.js";
import DOMPurify from "./vendor/dompurify/purify.es.js";

const md = new MarkdownIt({ html: false, linkify: false, typographer: false, breaks: false });
md.disable(["image"]); // no remote images from model output (tracking pixels, broken layouts)

const ALLOWED_TAGS = [
  "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code",
  "ul", "ol", "li", "em", "strong", "s", "del", "a",
  "table", "thead", "tbody", "tr", "th", "td",
];
const ALLOWED_ATTR = ["href", "title", "start"];
// Relative paths start with one "/" or with "./" or "../": "//host" is another site (scheme-relative).
const SAFE_URL = /^(?:https?:|mailto:|#|\/(?![/\\])|\.{1,2}\/)/i;

const purifier = DOMPurify;
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName !== "A") return;
  const href = node.getAttribute("href");
  if (href !== null && !SAFE_URL.test(href.trim())) node.removeAttribute("href");
  if (node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

const PURIFY_OPTIONS = {
  ALLOWED_TAGS,
  ALLOWED_ATTR,
  ADD_ATTR: ["target", "rel"],
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

/** Sanitised DOM for a Markdown source (top-level whitespace-only text nodes removed). */
export function renderFragment(source) {
  return sanitize(md.render(source));
}

function sanitize(html) {
  const fragment = purifier.sanitize(html, PURIFY_OPTIONS);
  for (const node of [...fragment.childNodes]) {
    if (node.nodeType === Node.TEXT_NODE && !node.data.trim()) node.remove();
  }
  return fragment;
}

/** Render Markdown into `el` once, replacing what it held. */
export function renderMarkdown(el, source) {
  el.replaceChildren(renderFragment(source));
}

/** The text a reader sees for a Markdown source: what the page's rendering puts in the DOM. */
export function renderedText(source) {
  const holder = document.createElement("div");
  holder.append(renderFragment(source));
  return holder.textContent;
}

// -- splitting the source into blocks ----------------------------------------------------------

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * Finds the block boundaries of a growing Markdown text, scanning each line once.
 * `cuts` are the source offsets where a new top-level block starts.
 */
class BlockScanner {
  constructor() {
    this.reset();
  }

  reset() {
    this.pos = 0; // start of the first line not yet scanned
    this.fence = null; // {char, length} while inside a fenced code block
    this.blank = false; // a blank line (outside a fence) came since the last cut
    this.cuts = [];
  }

  /** Scan the complete lines of `text` after `pos`; the partial last line only for a cut. */
  scan(text) {
    while (this.pos < text.length) {
      const end = text.indexOf("\n", this.pos);
      const complete = end !== -1;
      const line = text.slice(this.pos, complete ? end : text.length);
      if (this.fence) {
        if (!complete) return;
        const close = line.match(FENCE);
        if (close && close[1][0] === this.fence.char && close[1].length >= this.fence.length
            && !line.slice(close[0].length).trim()) {
          this.fence = null;
        }
      } else if (!line.trim()) {
        if (!complete) return;
        this.blank = true;
      } else {
        // A line at the margin after a blank line starts a new block.
        if (this.blank && !/^\s/.test(line)) {
          this.cuts.push(this.pos);
          this.blank = false;
        }
        if (!complete) return; // the rest of this line decides nothing until it is whole
        this.blank = false;
        const open = line.match(FENCE);
        if (open && !(open[1][0] === "`" && line.slice(open[0].length).includes("`"))) {
          this.fence = { char: open[1][0], length: open[1].length };
        }
      }
      this.pos = end + 1;
    }
  }
}

// -- the streaming renderer ------------------------------------------------------------------------

const SENTENCE_END = /[.!?…。！？](?:["'”’)\]]*)(?=\s)/g;

/**
 * Renders a growing Markdown text into `el`. `append(text)` is cheap: it schedules one render
 * per animation frame. `onRender()` runs after each render (auto-scroll); `onSpeak(text)` gets
 * completed sentences and blocks for a screen-reader live region.
 */
export class StreamingMarkdown {
  constructor(el, { onRender = null, onSpeak = null } = {}) {
    this.el = el;
    this.onRender = onRender;
    this.onSpeak = onSpeak;
    this.source = "";
    this.scanner = new BlockScanner();
    this.committedTo = 0; // source offset up to which blocks are rendered for good
    this.committedNodes = 0; // children of el that belong to committed blocks
    this.committedHtml = ""; // markdown-it's HTML for the committed blocks, for the final check
    this.spoken = 0; // characters of the live block's text already announced
    this.frame = 0;
    this.settled = false; // rendered whole (set() or finish()): nothing pending
  }

  /** Replace the whole text at once (a finished turn from the transcript): no announcements. */
  set(source) {
    this.cancelFrame();
    this.source = source;
    this.scanner.reset();
    this.committedTo = 0;
    this.committedNodes = 0;
    this.committedHtml = "";
    this.spoken = 0;
    this.el.replaceChildren(renderFragment(source));
    this.settled = true;
    this.onRender?.();
  }

  /** Start over, empty (a stream that restarts from seq 1). */
  clear() {
    this.cancelFrame();
    this.source = "";
    this.scanner.reset();
    this.committedTo = 0;
    this.committedNodes = 0;
    this.committedHtml = "";
    this.spoken = 0;
    this.settled = false;
    this.el.replaceChildren();
  }

  append(text) {
    if (!text) return;
    if (this.settled) {
      // Text arriving after set(): continue from the current source as a stream.
      const source = this.source;
      this.clear();
      this.source = source;
    }
    this.source += text;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  cancelFrame() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
  }

  /** Render now what has arrived (the frame callback, or a terminal event). */
  render() {
    this.frame = 0;
    this.scanner.scan(this.source);
    const cuts = this.scanner.cuts;
    // Commit every block that a later cut has closed.
    while (cuts.length && cuts[0] <= this.committedTo) cuts.shift();
    let committedNew = false;
    while (cuts.length) {
      const cut = cuts.shift();
      const block = this.source.slice(this.committedTo, cut);
      this.dropLive();
      const html = md.render(block);
      const fragment = sanitize(html);
      const text = fragmentText(fragment);
      this.el.append(fragment);
      this.committedNodes = this.el.childNodes.length;
      this.committedHtml += html;
      this.committedTo = cut;
      this.speak(text.slice(this.spoken));
      this.spoken = 0;
      committedNew = true;
    }
    // Re-render the live block: the text after the last committed block.
    const live = this.source.slice(this.committedTo);
    this.dropLive();
    if (live) {
      const fragment = sanitize(md.render(live));
      const text = fragmentText(fragment);
      this.el.append(fragment);
      this.speakSentences(text);
    }
    if (committedNew || live) this.onRender?.();
  }

  /** The turn ended: render what is left, announce it, and settle on the canonical render. */
  finish() {
    this.cancelFrame();
    if (this.settled) return;
    this.render();
    const live = this.source.slice(this.committedTo);
    const liveHtml = live ? md.render(live) : "";
    const whole = md.render(this.source);
    if (whole !== this.committedHtml + liveHtml) this.el.replaceChildren(sanitize(whole));
    if (live) this.speak(fragmentText(sanitize(liveHtml)).slice(this.spoken));
    this.spoken = 0;
    this.settled = true;
    this.onRender?.();
  }

  dropLive() {
    while (this.el.childNodes.length > this.committedNodes) this.el.lastChild.remove();
  }

  speakSentences(text) {
    let end = -1;
    SENTENCE_END.lastIndex = this.spoken;
    for (let match = SENTENCE_END.exec(text); match; match = SENTENCE_END.exec(text)) {
      end = match.index + match[0].length;
    }
    if (end > this.spoken) {
      this.speak(text.slice(this.spoken, end));
      this.spoken = end;
    }
  }

  speak(text) {
    const words = text.trim();
    if (words) this.onSpeak?.(words);
  }
}

function fragmentText(fragment) {
  let text = "";
  for (const node of fragment.childNodes) text += `${node.textContent} `;
  return text;
}
