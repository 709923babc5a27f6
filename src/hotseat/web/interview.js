// The interview: wires a transport (link-ws.js or link-sse.js), the reducer (state.js) and the
// view (view.js), and owns what is neither: the candidate's controls, the report panel, voice.
//
//   link (frames, responses) --event--> reduce(state, event) --state--> view
//   the page's moves ----------event--/         \--> effects here: speak a new turn, open the report
//
// Every event goes through `Run.dispatch`, which reduces, runs the few effects a transition
// needs, and renders. A Run lives as long as one open session; when it is closed, whatever its
// link or a read still in flight delivers is dropped.

import { api } from "./api.js";
import { SseLink } from "./link-sse.js";
import { WsLink } from "./link-ws.js";
import { ReportView } from "./report.js";
import { initialState, lastInterviewerTurn, reduce, reportReady, streamingTurn, unfollowed } from "./state.js";
import { $, clearAnnouncements, clearNotice, follower, setConn, showNotice } from "./ui.js";
import { renderControls, TranscriptView } from "./view.js";
import * as voice from "./voice.js";

const els = {
  view: $("#interview"),
  title: $("#session-title"),
  eyebrow: $("#session-eyebrow"),
  reportButton: $("#show-report"),
  transcriptButton: $("#show-transcript"),
  reportPanel: $("#report"),
  transcriptTitle: $("#transcript-title"),
  transcript: $("#transcript"),
  jump: $("#jump"),
  composer: $("#composer"),
  answer: $("#answer"),
  hint: $("#hint"),
  skip: $("#skip"),
  retry: $("#retry"),
  stop: $("#stop"),
  finish: $("#finish"),
  send: $("#send"),
};

// A turn the transcript lists as streaming normally gets a `turn` frame on the socket. If it
// ended in the instant between the transcript read and the socket's subscription, no frame
// comes: look again after these delays and take the finished text from the transcript.
const RECHECK_DELAYS_MS = [1000, 3000, 8000];

const hooks = {
  packTitle: (id) => id, // set by app.js
  forget: () => {}, // the session is gone: back to the start screen
  transportChanged: () => {}, // the page fell back from WebSocket to SSE
  preferredTransport: () => "ws",
};

const transcript = new TranscriptView(els.transcript);
let run = null; // the open session
let view = "transcript"; // or "report"
let report = null; // the ReportView while the report is shown

export function configure(options) {
  Object.assign(hooks, options);
}

export function currentSession() {
  return run?.id ?? null;
}

export function currentTransport() {
  return run?.state.transport ?? null;
}

class Run {
  constructor(id, transport) {
    this.id = id;
    this.state = initialState(id, transport);
    this.shown = null; // the state last rendered
    this.closed = false;
    this.refs = 0;
    this.rechecks = 0;
    this.recheckTimer = 0;
    this.link = this.connect(transport);
  }

  connect(transport) {
    const dispatch = (event) => this.dispatch(event);
    const opened = () => this.load();
    if (transport === "sse") return new SseLink(this.id, { dispatch, opened });
    return new WsLink(this.id, {
      dispatch, opened, gone: (message) => forgetSession(message), fallBack: () => this.fallBack(),
    });
  }

  dispatch(event) {
    if (this.closed) return;
    const before = this.state;
    this.state = reduce(before, event);
    this.render();
    this.effects(before, event);
  }

  effects(before, event) {
    const { state } = this;
    if (event.type === "turn" || event.type === "accepted") {
      // A new interviewer turn: follow it to the end of the page, and say it.
      for (const turn of state.turns) {
        if (turn.role === "interviewer" && turn.status === "streaming" && !before.turns.some((t) => t.id === turn.id)) {
          follower.toEnd();
          voice.speakTurn(turn.id, turn.kind);
        }
      }
      if (event.type === "turn" && !event.after) follower.toEnd();
      // The server's id (and, over SSE, the new turn's kind) are in the transcript.
      if (event.type === "accepted" && state.turns.some((t) => t.local)) this.load({ refresh: true });
    }
    if (event.type === "sent") follower.toEnd();
    if (reportReady(state)) {
      this.dispatch({ type: "reportShown" });
      setView("report", { push: true, scroll: true });
    }
  }

  render() {
    const { state, shown } = this;
    this.shown = state;
    transcript.render(state);
    if (state.conn !== shown?.conn) setConn(state.conn.state, state.conn.text, state.conn.detail);
    if (shown && state.notice.n !== shown.notice.n) {
      if (state.notice.message) showNotice(state.notice.message, { tone: state.notice.tone });
      else clearNotice();
    }
    if (shown && state.draft.n !== shown.draft.n && !els.answer.value) els.answer.value = state.draft.text;
    if (state.pack !== shown?.pack || state.status !== shown?.status) renderTitle();
    renderControls(els, state, { view });
  }

  /** Read the transcript. `refresh`: on a live link, for ids and kinds (not a (re)load). */
  async load({ refresh = false } = {}) {
    const { link } = this;
    const generation = link.generation;
    const stale = () => this.closed || link !== this.link || generation !== link.generation;
    let data;
    try {
      data = await api(`/api/sessions/${encodeURIComponent(this.id)}`);
    } catch (err) {
      if (stale()) return;
      if (err.status === 404) forgetSession("That interview no longer exists; start a new one.");
      else if (!refresh) {
        this.dispatch({ type: "notice", message: `Could not load the transcript: ${err.message}` });
        link.loadFailed();
      }
      return;
    }
    if (stale()) return;
    this.dispatch({ type: "transcript", data, refresh });
    if (this.state.transport === "sse") {
      link.loaded({ refresh });
      for (const turn of unfollowed(this.state)) link.follow(turn.id, turn.kind);
    }
    if (!refresh && view !== "report") follower.toEnd();
    else follower.update();
    this.scheduleRecheck();
  }

  scheduleRecheck() {
    clearTimeout(this.recheckTimer);
    if (this.state.transport !== "ws" || !unfollowed(this.state).length) {
      this.rechecks = 0;
      return;
    }
    if (this.rechecks >= RECHECK_DELAYS_MS.length) return;
    const generation = this.link.generation;
    this.recheckTimer = setTimeout(() => {
      if (generation === this.link.generation && this.state.ready && unfollowed(this.state).length) {
        this.load({ refresh: true });
      }
    }, RECHECK_DELAYS_MS[this.rechecks++]);
  }

  /** The WebSocket could not connect several times in a row: carry on over SSE. */
  fallBack() {
    this.dispatch({ type: "transport", transport: "sse" });
    this.dispatch({
      type: "notice",
      tone: "info",
      message: "The live connection (WebSocket) could not be opened, so this page switched to Server-Sent Events. "
        + "You can change this in Settings.",
    });
    this.link = this.connect("sse");
    hooks.transportChanged("sse");
    this.link.start();
  }

  /** Send a move; false when it could not be sent (nothing changes then). */
  move(name, details = {}) {
    if (this.state.transport === "ws" && !this.link.open) {
      showNotice("Not connected to the server; reconnecting. Try again in a moment.");
      return false;
    }
    this.refs += 1;
    const ref = `m${this.refs}`;
    this.dispatch({ type: "sent", ref, move: name, ...details });
    if (!this.link.move(ref, name, details)) {
      this.dispatch({ type: "rejected", ref, error: { message: "Not connected to the server; try again in a moment." } });
    }
    return true;
  }

  close() {
    this.closed = true;
    clearTimeout(this.recheckTimer);
    this.link.stop();
  }
}

// -- the candidate's moves ------------------------------------------------------------------------------

function sendAnswer() {
  const text = els.answer.value;
  if (!run || !text.trim() || els.send.disabled || els.send.hidden) return;
  if (run.move("answer", { text })) {
    els.answer.value = "";
  }
}

function skipQuestion() {
  if (run && !els.skip.disabled) run.move("skip");
}

function retryReply() {
  if (run && lastInterviewerTurn(run.state) && !els.retry.disabled) run.move("retry");
}

function finishInterview() {
  if (run && !els.finish.disabled) run.move("finish");
}

function stopReply() {
  voice.stopPlayback();
  const turn = run && streamingTurn(run.state);
  if (turn && !run.state.stopping) run.move("cancel", { turnId: turn.id });
}

// -- the report ------------------------------------------------------------------------------------------

/** Show the report panel ("report") or just the transcript. */
export function setView(next, { push = false, scroll = false } = {}) {
  if (!run) return;
  view = next === "report" ? "report" : "transcript";
  if (push) {
    const hash = `#session=${encodeURIComponent(run.id)}${view === "report" ? "&view=report" : ""}`;
    if (location.hash !== hash) history.pushState(null, "", hash);
  }
  els.view.dataset.view = view;
  els.transcriptTitle.classList.toggle("visually-hidden", view !== "report");
  if (view === "report") {
    follower.set(false); // the reader is reading the report: new text must not pull them away
    els.reportPanel.hidden = false;
    if (!report) {
      report = new ReportView(els.reportPanel, run.id, { reveal: revealTurn });
      report.load();
    }
    if (scroll) {
      els.reportPanel.scrollIntoView({ block: "start" });
      els.reportPanel.focus({ preventScroll: true });
    }
  } else {
    report?.destroy();
    report = null;
    els.reportPanel.hidden = true;
    els.reportPanel.replaceChildren();
  }
  renderControls(els, run.state, { view });
}

/** Scroll to a transcript turn and highlight it (the report's evidence links). */
export function revealTurn(turnId) {
  const el = document.getElementById(`turn-${turnId}`);
  if (!el) return false;
  follower.set(false);
  const smooth = !matchMedia("(prefers-reduced-motion: reduce)").matches;
  el.scrollIntoView({ block: "center", behavior: smooth ? "smooth" : "auto" });
  el.focus({ preventScroll: true });
  el.classList.remove("highlight");
  void el.offsetWidth; // restart the animation
  el.classList.add("highlight");
  setTimeout(() => el.classList.remove("highlight"), 2600);
  return true;
}

// -- opening and closing a session ---------------------------------------------------------------------------

export function refreshTitle() {
  if (run) renderTitle();
}

function renderTitle() {
  const pack = run?.state.pack;
  const title = pack ? hooks.packTitle(pack) : "Interview";
  els.title.textContent = title;
  els.eyebrow.textContent = run?.state.status === "finished" ? "Finished interview" : "Mock interview";
  document.title = `${title} · hotseat`;
}

export function openSession(id, { view: wanted = "transcript" } = {}) {
  if (run?.id === id) {
    if (wanted !== view) setView(wanted);
    return;
  }
  closeSession();
  run = new Run(id, hooks.preferredTransport());
  els.view.hidden = false;
  run.render();
  setView(wanted);
  run.link.start();
  voice.setSession(id);
  if (matchMedia("(pointer: fine)").matches && wanted !== "report") els.answer.focus(); // no surprise keyboard on phones
}

export function closeSession() {
  run?.close();
  run = null;
  report?.destroy();
  report = null;
  view = "transcript";
  els.reportPanel.hidden = true;
  els.reportPanel.replaceChildren();
  transcript.clear();
  els.answer.value = "";
  els.view.hidden = true;
  voice.setSession(null);
  clearAnnouncements();
}

/** The transport setting changed: reopen the session over the new one. */
export function reopen() {
  if (!run) return;
  const { id } = run;
  const wanted = view;
  closeSession();
  openSession(id, { view: wanted });
}

function forgetSession(message) {
  closeSession();
  hooks.forget(message);
}

// -- wiring -------------------------------------------------------------------------------------------------

els.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  sendAnswer();
});
els.answer.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && run && streamingTurn(run.state)) {
    event.preventDefault();
    stopReply();
    return;
  }
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
  event.preventDefault();
  sendAnswer();
});
els.stop.addEventListener("click", stopReply);
voice.configure({ stopTurn: stopReply, streaming: () => (run ? streamingTurn(run.state) : null) });
els.skip.addEventListener("click", skipQuestion);
els.retry.addEventListener("click", retryReply);
els.finish.addEventListener("click", finishInterview);
els.reportButton.addEventListener("click", () => setView("report", { push: true, scroll: true }));
els.transcriptButton.addEventListener("click", () => {
  setView("transcript", { push: true });
  follower.toEnd();
});
els.jump.addEventListener("click", () => {
  follower.toEnd();
  if (run) renderControls(els, run.state, { view });
});
follower.listeners.add(() => {
  if (run) els.jump.hidden = follower.following || !streamingTurn(run.state);
});
function reconnectNow() {
  if (!run) return;
  if (run.link.reconnectNow() === false && run.state.ready) run.load({ refresh: true });
}
window.addEventListener("online", reconnectNow);
window.addEventListener("offline", () => run?.link.offline());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") reconnectNow();
});
