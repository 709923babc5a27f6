// The interview's view: renders a state (state.js) into the transcript and the controls.
//
// Every turn keeps its element, keyed by the turn's `key`, so a local answer that learns its
// server id keeps its node. A turn object that is the same as at the last render is skipped; a
// streamed turn's new text is appended to its StreamingMarkdown (which renders at most once a
// frame, block by block), and only a replaced text (`rev` changed) is rendered again.

import { StreamingMarkdown } from "./markdown.js";
import { FAILED, errorAdvice, isLive, lastInterviewerTurn, streamingTurn } from "./state.js";
import { announce, follower, h } from "./ui.js";

const WHO = { candidate: "You", report: "Summary", interviewer: "Interviewer" };

export class TranscriptView {
  constructor(list) {
    this.list = list;
    this.items = new Map(); // turn key -> {el, who, body, meta, markdown, plain, turn, rev, length, finished}
    this.turns = null; // the turns array last rendered
  }

  /** Render the turns of `state`. */
  render(state) {
    if (state.turns === this.turns) return;
    this.turns = state.turns;
    // Most renders are a token of one turn: the list's membership and order are only checked when
    // a turn came or went (state.js appends, replaces and drops turns; it never reorders them).
    let changed = false;
    for (const turn of state.turns) {
      let item = this.items.get(turn.key);
      if (!item) {
        item = this.create(turn);
        this.items.set(turn.key, item);
        changed = true;
      }
      if (item.turn !== turn) this.update(item, turn);
    }
    if (!changed && this.items.size === state.turns.length) return;
    const keys = new Set(state.turns.map((t) => t.key));
    for (const [key, item] of this.items) {
      if (!keys.has(key)) {
        item.el.remove();
        this.items.delete(key);
      }
    }
    const wanted = state.turns.map((t) => this.items.get(t.key).el);
    const children = this.list.children;
    if (children.length !== wanted.length || wanted.some((el, i) => children[i] !== el)) this.list.append(...wanted);
  }

  clear() {
    this.items.clear();
    this.turns = null;
    this.list.replaceChildren();
  }

  create(turn) {
    const { role } = turn;
    const el = h("li", { class: `turn ${role}`, tabindex: "-1" });
    const who = h("div.who");
    const body = h(`div.text.${role === "interviewer" ? "md" : "plain"}`);
    const meta = h("div.meta", { hidden: true });
    el.append(who, body, meta);
    const item = { el, who, body, meta, markdown: null, plain: null, turn: null, rev: 0, length: 0, finished: false };
    if (role === "interviewer") {
      item.markdown = new StreamingMarkdown(body, { onRender: () => follower.update(), onSpeak: (text) => announce(text) });
    } else {
      item.plain = document.createTextNode("");
      body.append(item.plain);
    }
    return item;
  }

  update(item, turn) {
    item.turn = turn;
    const { el } = item;
    el.id = `turn-${turn.id}`;
    el.dataset.turnId = turn.id;
    el.className = `turn ${turn.role}${turn.kind === "report" ? " report" : ""}`;
    el.dataset.role = turn.role;
    el.dataset.kind = turn.kind;
    el.dataset.status = turn.status;
    item.who.textContent = turn.role === "candidate" ? WHO.candidate : turn.kind === "report" ? WHO.report : WHO.interviewer;
    this.text(item, turn);
    const meta = metaText(turn);
    item.meta.textContent = meta;
    item.meta.hidden = !meta;
    el.classList.toggle("problem", turn.status === "failed" || turn.status === "interrupted");
    el.classList.toggle("queued", turn.status === "streaming" && turn.queued != null);
  }

  text(item, turn) {
    if (item.plain) {
      if (item.plain.data !== turn.text) item.plain.data = turn.text;
      return;
    }
    const md = item.markdown;
    const ended = turn.status !== "streaming";
    if (turn.fromRecord) {
      // A stored text is rendered whole, once (no announcements).
      if (!(md.settled && md.source === turn.text)) md.set(turn.text);
      Object.assign(item, { rev: turn.rev, length: turn.text.length, finished: ended });
      return;
    }
    if (item.rev !== turn.rev) {
      md.clear(); // the stream starts over
      Object.assign(item, { rev: turn.rev, length: 0, finished: false });
    }
    if (turn.text.length > item.length) {
      md.append(turn.text.slice(item.length));
      item.length = turn.text.length;
    }
    if (ended && !item.finished) {
      md.finish();
      item.finished = true;
    }
  }
}

function metaText(turn) {
  if (turn.status === "streaming" && turn.queued != null) return `Waiting for the model: number ${turn.queued} in the queue…`;
  if (turn.status === "cancelled") return "Stopped.";
  if (turn.status === "failed" || turn.status === "interrupted") return errorAdvice(turn.error);
  if (turn.finishReason === "length") return "Cut off: the reply reached the length limit.";
  if (turn.status === "sending") return "Sending…";
  return "";
}

let drawn = ""; // what the controls were last drawn from: most events (every delta) change none of it

/** What the controls show for `state`: which buttons, which are usable, and the hint beside them. */
export function renderControls(els, state, { view }) {
  const live = isLive(state);
  const speaking = streamingTurn(state);
  const last = lastInterviewerTurn(state);
  const finished = state.status === "finished";
  const closed = finished || last?.kind === "closing";
  const failedLast = Boolean(last && FAILED.has(last.status));
  const busy = Boolean(speaking) || Boolean(state.pending);
  const inputs = [
    state.sessionId, view, live, speaking?.id, speaking?.kind, speaking?.queued, last?.id, last?.kind, last?.status,
    state.status, Boolean(state.pending), Boolean(state.stopping), follower.following,
  ].join("|");
  if (inputs === drawn) return;
  drawn = inputs;

  els.stop.hidden = !speaking;
  els.stop.disabled = Boolean(speaking && state.stopping);
  els.send.hidden = Boolean(speaking) || finished;
  els.send.disabled = !live || busy || closed;
  els.skip.hidden = closed;
  els.skip.disabled = !live || busy;
  els.retry.hidden = !failedLast || Boolean(speaking);
  els.retry.disabled = !live || busy;
  els.finish.hidden = finished;
  els.finish.disabled = !live || busy;
  els.answer.disabled = closed;
  els.composer.classList.toggle("over", finished);
  els.composer.classList.toggle("closed", closed);
  els.transcript.setAttribute("aria-busy", speaking ? "true" : "false");
  els.reportButton.hidden = !finished || view === "report" || Boolean(speaking);
  els.transcriptButton.hidden = view !== "report";
  els.jump.hidden = follower.following || !speaking;
  els.hint.textContent = hint(state, { live, speaking, last, finished, closed, failedLast });
}

function hint(state, { live, speaking, last, finished, closed, failedLast }) {
  if (!live) return "Waiting for the connection…";
  if (speaking?.kind === "report") return "Writing your summary…";
  if (speaking?.queued != null) return "Waiting for the model…";
  if (speaking) return "The interviewer is speaking. Esc stops.";
  if (finished) return last?.kind === "report" && last.status === "complete" ? "The interview is over. Here is your report." : "The interview is over.";
  if (failedLast) return last.status === "cancelled" ? "Reply stopped. Retry it, or answer anyway." : "The last reply failed. Retry it, or answer anyway.";
  if (closed) return "That was the last question. Finish to get your report.";
  if (state.pending) return "Sending…";
  return "Your turn.";
}
