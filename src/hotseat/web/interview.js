// The interview view's page side: the transcript and controls drawn from a session's state, the
// candidate's moves, the report panel. The session itself (transport, state, effects) is
// session.js; the reducer is state.js; the drawing of turns and controls is view.js.

import { ReportView } from "./report.js";
import { Session } from "./session.js";
import { lastInterviewerTurn, streamingTurn } from "./state.js";
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

const hooks = {
  packTitle: (id) => id, // set by app.js
  forget: () => {}, // the session is gone: back to the start screen
  transportChanged: () => {}, // the page fell back from WebSocket to SSE
  preferredTransport: () => "ws",
};

const transcript = new TranscriptView(els.transcript);
let run = null; // the open Session
let view = "transcript"; // or "report"
let report = null; // the ReportView while the report is shown

export function configure(options) {
  Object.assign(hooks, options);
}

export function currentTransport() {
  return run?.state.transport ?? null;
}

// What a session needs of the page.
const ui = {
  render(state, shown) {
    transcript.render(state);
    if (state.conn !== shown?.conn) setConn(state.conn.state, state.conn.text, state.conn.detail);
    if (shown && state.notice.n !== shown.notice.n) {
      if (state.notice.message) showNotice(state.notice.message, { tone: state.notice.tone });
      else clearNotice();
    }
    if (shown && state.draft.n !== shown.draft.n && !els.answer.value) els.answer.value = state.draft.text;
    if (state.pack !== shown?.pack || state.status !== shown?.status) renderTitle();
    renderControls(els, state, { view });
  },
  reportReady: () => setView("report", { push: true, scroll: true }),
  readingReport: () => view === "report",
  gone: (message) => forgetSession(message),
  fellBack: () => hooks.transportChanged("sse"),
};

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
  run = new Session(id, hooks.preferredTransport(), ui);
  els.view.hidden = false;
  setView(wanted);
  run.start();
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
voice.configure({
  stopTurn: stopReply,
  streaming: () => (run ? streamingTurn(run.state) : null),
  socket: () => run?.link.socket ?? null, // an SSE link has none: voice then uses HTTP
});
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
  if (!run.link.reconnectNow() && run.state.ready) run.load({ refresh: true });
}
window.addEventListener("online", reconnectNow);
window.addEventListener("offline", () => run?.link.offline());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") reconnectNow();
});
