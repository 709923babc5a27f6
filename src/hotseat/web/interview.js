// The interview view: the transcript, the streaming interviewer turns, the candidate's moves,
// and the two transports.
//
// WebSocket (the default). One socket per open session (/ws?session=ID). Every (re)connect:
//   1. the socket opens; the server streams a turn still in progress from its start (a `turn`
//      frame, then deltas from seq 1), and announces every turn started later;
//   2. the page loads the transcript (GET /api/sessions/ID) and renders the finished turns from
//      it; a turn whose `turn` frame came on this socket is rendered from the stream only, so
//      its text never doubles. The page never sends `resume`.
//
// Server-Sent Events (the fallback). Moves go over HTTP (answers, skip, retry, finish, cancel);
// the 202 response names the turn that started, and that turn is read from
// GET /api/sessions/ID/turns/TID/events. On (re)load the transcript is read first, and a turn it
// lists as streaming is read from its stream from seq 1, exactly like the socket's `turn` frame:
// the stream is the only source of an in-progress turn's text. A stream that starts at seq 1 is
// opened without `after`, so that when the network drops, EventSource reconnects by itself with
// Last-Event-ID and the server continues after the last seq received.
//
// Both: every frame's seq is checked (frames not newer than the last one are dropped), and a
// turn's text is rendered as Markdown, block by block (markdown.js).

import { api } from "./api.js";
import { StreamingMarkdown } from "./markdown.js";
import { ReportView } from "./report.js";
import { $, announce, clearAnnouncements, clearNotice, follower, h, setConn, showNotice } from "./ui.js";
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

const RECONNECT_DELAYS_MS = [250, 1000, 2000, 4000, 8000, 15000];
const RECHECK_DELAYS_MS = [1000, 3000, 8000];
const SOCKET_OPEN = 1;
const CLOSE_POLICY_VIOLATION = 1008; // the server's answer to an unknown session
const WS_FAILURES_BEFORE_FALLBACK = 3;
const FAILED = new Set(["failed", "interrupted", "cancelled"]);

const hooks = {
  packTitle: (id) => id, // set by app.js
  forget: () => {}, // the session is gone: back to the start screen
  transportChanged: () => {}, // the page fell back from WebSocket to SSE
  preferredTransport: () => "ws",
};

let session = null; // {id, pack, status}
let mode = "ws"; // the transport this session uses: "ws" or "sse"
let view = "transcript"; // or "report"
let turns = new Map(); // turn id -> Turn
let order = []; // turn ids, transcript order
let link = null; // the current connection: the socket (ws), or a token per (re)load (sse)
let socket = null;
let announced = new Set(); // turns rendered from a stream that began on the current link
let ready = false; // the current link's transcript has been applied
let attempts = 0; // reconnects since the last successful open
let streamFailures = 0; // turn deliveries that failed since the last turn ended (slows reconnects)
let wsNeverOpened = 0; // consecutive sockets that closed without opening
let reconnectTimer = 0;
let recheckTimer = 0;
let rechecks = 0;
let wsTurnId = null; // the turn of the socket's last `turn` frame: its deltas belong to it
let lastSent = null; // the last frame sent: error frames without turn_id are about it
let pendingAnswer = null; // a local candidate turn the server has not confirmed yet
let inFlight = null; // "finish" or "retry" sent, its turn not started yet
let localIds = 0;
let epoch = 0; // bumped when the open session changes; stale async results are dropped
let streams = new Map(); // sse: turn id -> {es, pinned, failures, timer}
let sseOffline = false;
let report = null; // the ReportView while the report is shown
let showReportWhenDone = false;

export function configure(options) {
  Object.assign(hooks, options);
}

export function currentSession() {
  return session?.id ?? null;
}

export function currentTransport() {
  return session ? mode : null;
}

// -- turns ------------------------------------------------------------------------------------

function newTurn(id, role, kind) {
  const el = h("li", { class: `turn ${role}`, id: `turn-${id}`, tabindex: "-1" });
  el.dataset.turnId = id;
  const who = h("div.who");
  const body = h(`div.text.${role === "interviewer" ? "md" : "plain"}`);
  const meta = h("div.meta", { hidden: true });
  el.append(who, body, meta);
  const turn = {
    id, role, kind, status: "streaming", finishReason: null, error: null, queued: null,
    lastSeq: 0, local: false, el, who, body, meta, markdown: null, plain: null,
  };
  if (role === "interviewer") {
    turn.markdown = new StreamingMarkdown(body, {
      onRender: () => follower.update(),
      onSpeak: (text) => announce(text),
    });
  } else {
    turn.plain = document.createTextNode("");
    body.append(turn.plain);
  }
  turns.set(id, turn);
  return turn;
}

function rekey(turn, id) {
  const old = turn.id;
  order = order.map((each) => (each === old ? id : each));
  turns.delete(old);
  turn.id = id;
  turn.el.id = `turn-${id}`;
  turn.el.dataset.turnId = id;
  turn.local = false;
  turns.set(id, turn);
}

function ensureTurn(id, kind) {
  const existing = turns.get(id);
  if (existing) return existing;
  const turn = newTurn(id, "interviewer", kind || "question");
  order.push(id);
  els.transcript.append(turn.el);
  return turn;
}

function setText(turn, text) {
  if (turn.markdown) {
    if (!(turn.markdown.settled && turn.markdown.source === text)) turn.markdown.set(text);
  } else if (turn.plain.data !== text) {
    turn.plain.data = text;
  }
}

function clearText(turn) {
  if (turn.markdown) turn.markdown.clear();
  else turn.plain.data = "";
}

function settle(turn) {
  turn.markdown?.finish();
}

const WHO = { candidate: "You", report: "Summary", interviewer: "Interviewer" };

// The codes that say a retry may succeed (docs/protocol.md); the transcript's stored error has
// only code and message, so the hint is derived from the code there.
const RETRYABLE = new Set([
  "busy", "interrupted", "rate_limited", "unavailable", "upstream_error", "upstream_rate_limited", "upstream_timeout",
  "upstream_unavailable",
]);

function errorAdvice(error) {
  if (!error) return "This reply failed.";
  let text = error.message || "This reply failed.";
  if (error.retry_after) text += ` You can retry in ${Math.ceil(error.retry_after)} s.`;
  else if (error.retryable ?? RETRYABLE.has(error.code)) text += " You can retry it.";
  return text;
}

function renderTurn(turn) {
  const { el } = turn;
  el.className = `turn ${turn.role}${turn.kind === "report" ? " report" : ""}`;
  el.dataset.role = turn.role;
  el.dataset.kind = turn.kind;
  el.dataset.status = turn.status;
  turn.who.textContent = turn.role === "candidate" ? WHO.candidate : turn.kind === "report" ? WHO.report : WHO.interviewer;
  let meta = "";
  if (turn.status === "streaming" && turn.queued != null) {
    meta = `Waiting for the model: number ${turn.queued} in the queue…`;
  } else if (turn.status === "cancelled") {
    meta = "Stopped.";
  } else if (turn.status === "failed" || turn.status === "interrupted") {
    meta = errorAdvice(turn.error);
  } else if (turn.finishReason === "length") {
    meta = "Cut off: the reply reached the length limit.";
  } else if (turn.local && turn.status === "sending") {
    meta = "Sending…";
  }
  turn.meta.textContent = meta;
  turn.meta.hidden = !meta;
  el.classList.toggle("problem", turn.status === "failed" || turn.status === "interrupted");
  el.classList.toggle("queued", turn.status === "streaming" && turn.queued != null);
}

function streamingTurn() {
  for (let i = order.length - 1; i >= 0; i--) {
    const turn = turns.get(order[i]);
    if (turn.role === "interviewer" && turn.status === "streaming") return turn;
  }
  return null;
}

function lastInterviewerTurn() {
  for (let i = order.length - 1; i >= 0; i--) {
    const turn = turns.get(order[i]);
    if (turn.role === "interviewer") return turn;
  }
  return null;
}

// -- frames from the server (WebSocket frames and SSE events alike) ------------------------------------

function onFrame(frame) {
  switch (frame.type) {
    case "turn": {
      const isNew = !turns.has(frame.turn_id);
      const turn = ensureTurn(frame.turn_id, frame.kind);
      announced.add(turn.id);
      if (frame.after > 0 && !isNew) {
        // A resumed stream continues after what we have: keep the text.
        turn.kind = frame.kind || turn.kind;
        break;
      }
      // The stream of this turn starts over from its beginning: drop what we had.
      turn.kind = frame.kind || turn.kind;
      turn.status = "streaming";
      turn.finishReason = null;
      turn.error = null;
      turn.queued = null;
      turn.lastSeq = 0;
      clearText(turn);
      inFlight = null;
      // A new interviewer turn means the server took the answer we sent.
      if (isNew && pendingAnswer) confirmAnswer();
      if (turn.kind === "report" && session) {
        session.status = "finished";
        showReportWhenDone = true;
      }
      renderTurn(turn);
      follower.toEnd();
      if (isNew) voice.speakTurn(turn.id, turn.kind);
      break;
    }
    case "delta": {
      const turn = ensureTurn(frame.turn_id);
      if (frame.seq <= turn.lastSeq) return; // already have it
      turn.lastSeq = frame.seq;
      turn.markdown?.append(frame.text);
      if (turn.queued != null) {
        turn.queued = null;
        renderTurn(turn);
        setConnected();
        updateControls();
      }
      return; // otherwise controls do not change on a delta
    }
    case "queued": {
      const turn = ensureTurn(frame.turn_id);
      if (frame.seq <= turn.lastSeq) return;
      turn.lastSeq = frame.seq;
      turn.queued = frame.position;
      renderTurn(turn);
      setConnected();
      break;
    }
    case "done": {
      const turn = ensureTurn(frame.turn_id);
      if (frame.seq < turn.lastSeq) return;
      turn.lastSeq = frame.seq;
      turn.queued = null;
      turn.finishReason = frame.finish_reason;
      turn.status = frame.finish_reason === "cancelled" ? "cancelled" : "complete";
      streamFailures = 0;
      settle(turn);
      renderTurn(turn);
      setConnected();
      turnEnded(turn);
      break;
    }
    case "error": {
      if (frame.turn_id && frame.seq == null) {
        // Sending this turn to us failed, not the turn itself: reopen the socket, which
        // streams the turn again from its start.
        showNotice(frame.message || "Streaming this reply failed; reconnecting.");
        streamFailures += 1;
        socket?.close();
        return;
      }
      if (frame.turn_id) {
        const turn = ensureTurn(frame.turn_id);
        if (frame.seq < turn.lastSeq) return;
        turn.lastSeq = frame.seq;
        streamFailures = 0;
        turn.queued = null;
        turn.status = frame.code === "interrupted" ? "interrupted" : "failed";
        turn.error = {
          code: frame.code, message: frame.message, retryable: frame.retryable, retry_after: frame.retry_after,
        };
        settle(turn);
        renderTurn(turn);
        showNotice(errorAdvice(turn.error));
        turnEnded(turn);
      } else {
        // About the last frame we sent (e.g. `conflict`: the interviewer is still speaking).
        if ((lastSent?.type === "answer" || lastSent?.type === "skip") && pendingAnswer) rejectAnswer();
        if (lastSent?.type === "cancel") els.stop.disabled = false;
        if (lastSent?.type === "finish" || lastSent?.type === "retry") inFlight = null;
        showNotice(frame.message || "The server refused that.");
      }
      break;
    }
    default:
      return; // a newer server's frame this page does not know: ignore it
  }
  updateControls();
}

/** A turn reached its terminal event: re-read the transcript (real ids for local answers, kinds). */
function turnEnded(turn) {
  if (ready && link) loadTranscript(link, { refresh: true });
  if (turn.kind === "report" && turn.status === "complete" && showReportWhenDone) {
    showReportWhenDone = false;
    setView("report", { push: true, scroll: true });
  }
}

function setConnected() {
  if (mode === "sse") {
    if (sseOffline || !ready) return;
    setConn("connected", "Connected", "Server-Sent Events");
  }
}

// -- the WebSocket -------------------------------------------------------------------------------

function wsUrl(sessionId) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws?session=${encodeURIComponent(sessionId)}`;
}

function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = 0;
  if (!session) return;
  if (mode === "sse") connectSse();
  else connectWs();
}

function connectWs() {
  const ws = new WebSocket(wsUrl(session.id));
  ws.binaryType = "arraybuffer"; // binary frames are the interviewer's speech (voice.js)
  wsTurnId = null;
  let opened = false;
  socket = ws;
  link = ws;
  announced = new Set();
  ready = false;
  setConn("connecting", attempts ? "Reconnecting…" : "Connecting…", "WebSocket");
  ws.addEventListener("open", () => {
    if (ws !== socket) return;
    opened = true;
    wsNeverOpened = 0;
    attempts = streamFailures;
    setConn("connected", "Connected", "WebSocket");
    loadTranscript(ws);
    updateControls();
  });
  ws.addEventListener("message", (event) => {
    if (ws !== socket) return;
    if (typeof event.data !== "string") return voice.onSpeechFrame(event.data);
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.ref !== undefined) return voice.onAudioFrame(frame); // about a recording (voice.js)
    // Deltas do not repeat their turn's id: they belong to the last `turn` frame.
    if (frame.type === "turn") wsTurnId = frame.turn_id;
    else if (frame.type === "delta") frame.turn_id = wsTurnId;
    onFrame(frame);
  });
  ws.addEventListener("close", (event) => {
    if (ws !== socket) return;
    socket = null;
    link = null;
    ready = false;
    inFlight = null;
    clearTimeout(recheckTimer);
    if (event.code === CLOSE_POLICY_VIOLATION) {
      setConn("offline", "Not connected");
      forgetSession("That interview no longer exists; start a new one.");
      return;
    }
    if (!opened && navigator.onLine) {
      // (Failures while the browser is offline say nothing about WebSockets.)
      wsNeverOpened += 1;
      if (wsNeverOpened >= WS_FAILURES_BEFORE_FALLBACK) {
        fallBackToSse();
        return;
      }
    }
    scheduleReconnect();
    if (!navigator.onLine) setConn("offline", "Offline; waiting for the network…", "WebSocket");
    updateControls();
  });
}

/** The WebSocket could not connect several times in a row: carry on over SSE. */
function fallBackToSse() {
  mode = "sse";
  attempts = 0;
  showNotice(
    "The live connection (WebSocket) could not be opened, so this page switched to Server-Sent Events. "
      + "You can change this in Settings.",
    { tone: "info" },
  );
  hooks.transportChanged("sse");
  connect();
}

function scheduleReconnect() {
  if (!session || reconnectTimer) return;
  const base = RECONNECT_DELAYS_MS[Math.min(attempts, RECONNECT_DELAYS_MS.length - 1)];
  const delay = Math.round(base * (0.8 + Math.random() * 0.4));
  attempts += 1;
  const seconds = Math.max(1, Math.round(delay / 1000));
  setConn("offline", `Connection lost; retrying in ${seconds} s…`, mode === "sse" ? "Server-Sent Events" : "WebSocket");
  reconnectTimer = setTimeout(() => {
    reconnectTimer = 0;
    connect();
  }, delay);
}

function reconnectNow() {
  if (!session) return;
  if (mode === "sse") {
    for (const [id, stream] of [...streams]) {
      if (stream.timer) {
        clearTimeout(stream.timer);
        openStream(id);
      }
    }
    if (reconnectTimer) connect();
    else if (ready && link) loadTranscript(link, { refresh: true });
    return;
  }
  if (!socket && reconnectTimer) connect();
}

function send(frame) {
  if (!socket || socket.readyState !== SOCKET_OPEN) {
    showNotice("Not connected to the server; reconnecting. Try again in a moment.");
    return false;
  }
  lastSent = frame;
  socket.send(JSON.stringify(frame));
  return true;
}

// -- Server-Sent Events --------------------------------------------------------------------------

function connectSse() {
  const token = { sse: true };
  link = token;
  ready = false;
  setConn("connecting", attempts ? "Reconnecting…" : "Connecting…", "Server-Sent Events");
  loadTranscript(token);
}

function eventsUrl(turnId, after) {
  const base = `/api/sessions/${encodeURIComponent(session.id)}/turns/${encodeURIComponent(turnId)}/events`;
  return after > 0 ? `${base}?after=${after}` : base;
}

/** Read a turn's events; from seq 1 when it has none yet, else after the last one we have. */
function openStream(turnId) {
  closeStream(turnId);
  const turn = turns.get(turnId);
  if (!turn || !session) return;
  const after = turn.lastSeq;
  const es = new EventSource(eventsUrl(turnId, after));
  // `pinned`: the URL carries `after`, which outranks Last-Event-ID, so the browser's own
  // reconnect would start from a stale point; such a stream is reopened by the page instead.
  const stream = { es, pinned: after > 0, failures: 0, timer: 0 };
  streams.set(turnId, stream);
  const current = () => streams.get(turnId) === stream && session;
  const onMessage = (event) => {
    if (!current()) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (event.type === "delta") {
      // A delta's data is only its text: the seq is the event id, the turn is this stream's.
      frame = { type: "delta", turn_id: turnId, seq: Number(event.lastEventId), text: frame.text };
    }
    onStreamFrame(turnId, stream, frame);
  };
  for (const type of ["delta", "queued", "done"]) es.addEventListener(type, onMessage);
  es.addEventListener("error", (event) => {
    if (!current()) return;
    if (event instanceof MessageEvent && event.data) onMessage(event); // the server's `event: error`
    else onStreamDrop(turnId, stream);
  });
  es.addEventListener("open", () => {
    if (!current()) return;
    stream.failures = 0;
    if (sseOffline) {
      sseOffline = false;
      setConnected();
      updateControls();
    }
  });
}

function onStreamFrame(turnId, stream, frame) {
  if (frame.type === "error" && frame.seq == null) {
    // Not the turn's outcome: this delivery failed. Read it again shortly, after what we have.
    closeStream(turnId);
    showNotice(frame.message || "Streaming this reply failed; retrying.");
    if (frame.code !== "bad_request" && frame.code !== "not_found") reopenLater(turnId, stream.failures + 1);
    return;
  }
  if (frame.type === "done" || frame.type === "error") closeStream(turnId); // else it reconnects
  onFrame(frame);
}

function onStreamDrop(turnId, stream) {
  if (!sseOffline) {
    sseOffline = true;
    setConn("offline", "Connection lost; reconnecting…", "Server-Sent Events");
    updateControls();
  }
  if (stream.es.readyState === EventSource.CLOSED || stream.pinned) {
    stream.es.close();
    reopenLater(turnId, stream.failures + 1);
  }
  // Otherwise EventSource reconnects by itself, sending Last-Event-ID.
}

function reopenLater(turnId, failures) {
  const delay = RECONNECT_DELAYS_MS[Math.min(failures - 1, RECONNECT_DELAYS_MS.length - 1)];
  const placeholder = { es: { close() {} }, pinned: true, failures, timer: 0 };
  streams.set(turnId, placeholder);
  placeholder.timer = setTimeout(() => {
    if (streams.get(turnId) !== placeholder) return;
    const turn = turns.get(turnId);
    if (!turn || turn.status !== "streaming") {
      streams.delete(turnId);
      return;
    }
    openStream(turnId);
    const reopened = streams.get(turnId);
    if (reopened) reopened.failures = failures;
  }, delay);
}

function closeStream(turnId) {
  const stream = streams.get(turnId);
  if (!stream) return;
  clearTimeout(stream.timer);
  stream.es.close();
  streams.delete(turnId);
}

function closeAllStreams() {
  for (const id of [...streams.keys()]) closeStream(id);
}

/** A turn that started on the server (named by a 202 response, or listed as streaming). */
function followSseTurn(turnId, kind) {
  onFrame({ type: "turn", turn_id: turnId, kind });
  openStream(turnId);
}

/** POST a move; resolves with the body, or null when the page moved on meanwhile. */
async function postMove(path, body) {
  const mine = epoch;
  try {
    const result = await api(`/api/sessions/${encodeURIComponent(session.id)}${path}`, { method: "POST", body });
    return mine === epoch ? result || {} : null;
  } catch (err) {
    if (mine !== epoch) return null;
    if (err.status === 0 && !sseOffline) {
      sseOffline = true;
      setConn("offline", "Cannot reach the server", "Server-Sent Events");
      updateControls();
    }
    throw err;
  }
}

// -- the transcript -------------------------------------------------------------------------------

async function loadTranscript(current, { refresh = false } = {}) {
  const mine = epoch;
  let data;
  try {
    data = await api(`/api/sessions/${encodeURIComponent(session.id)}`);
  } catch (err) {
    if (mine !== epoch || current !== link) return;
    if (err.status === 404) {
      forgetSession("That interview no longer exists; start a new one.");
    } else if (!refresh) {
      showNotice(`Could not load the transcript: ${err.message}`);
      if (mode === "ws") current.close(); // reconnect (with backoff) and try again
      else {
        link = null;
        scheduleReconnect();
      }
    }
    return;
  }
  if (mine !== epoch || current !== link) return; // a newer connection loads its own
  applyTranscript(data, { refresh });
  if (mode === "sse") {
    if (!refresh) attempts = 0;
    sseOffline = false;
  }
  ready = true;
  setConnected();
  updateControls();
}

function applyTranscript(data, { refresh }) {
  session.pack = data.pack;
  session.status = data.status;
  renderTitle();
  // Local candidate turns (sent before the server confirmed them) take the server's ids.
  for (const row of data.turns) {
    if (row.role !== "candidate" || turns.has(row.id)) continue;
    const local = order.map((id) => turns.get(id)).find((t) => t.local && t.kind === row.kind && t.plain.data === row.text);
    if (!local) continue;
    const wasPending = pendingAnswer?.id === local.id;
    rekey(local, row.id);
    if (wasPending) pendingAnswer = null;
  }
  const next = [];
  for (const row of data.turns) {
    const turn = turns.get(row.id) || newTurn(row.id, row.role, row.kind);
    turn.role = row.role;
    turn.kind = row.kind;
    if (!announced.has(row.id)) {
      if (row.status === "streaming") {
        // Still generating: its text comes only from a stream (a `turn` frame on the socket
        // restarts it from the beginning; over SSE the page opens it from seq 1 below).
        turn.status = "streaming";
      } else {
        setText(turn, row.text);
        turn.status = row.status;
        turn.finishReason = row.finish_reason;
        turn.error = row.error;
        turn.queued = null;
      }
    } else if (row.status !== "streaming" && turn.status === "streaming" && !streams.has(row.id) && mode === "sse") {
      // Over SSE, a stream that is not open can not deliver the end: take it from the record.
      setText(turn, row.text);
      turn.status = row.status;
      turn.finishReason = row.finish_reason;
      turn.error = row.error;
    }
    renderTurn(turn);
    next.push(row.id);
  }
  // Turns announced on this connection after the transcript was read, and local answers not
  // yet confirmed, come after it.
  const listed = new Set(next);
  for (const id of order) {
    if (listed.has(id)) continue;
    const turn = turns.get(id);
    if (announced.has(id) || (turn.local && (refresh || pendingAnswer?.id === id))) next.push(id);
  }
  if (pendingAnswer && !refresh && mode === "ws") {
    // The socket closed before the server confirmed the answer, and the transcript lacks it.
    // (Over SSE the answer's own POST says whether it arrived.)
    const turn = turns.get(pendingAnswer.id);
    if (turn?.kind === "answer" && !els.answer.value) els.answer.value = pendingAnswer.text;
    showNotice("Your last answer did not reach the server; send it again.");
    const index = next.indexOf(pendingAnswer.id);
    if (index !== -1) next.splice(index, 1);
    pendingAnswer = null;
  }
  const keep = new Set(next);
  for (const [id, turn] of turns) {
    if (!keep.has(id)) {
      turn.el.remove();
      turns.delete(id);
    }
  }
  order = next;
  els.transcript.append(...order.map((id) => turns.get(id).el));
  if (mode === "sse") {
    for (const row of data.turns) {
      if (row.status === "streaming" && !announced.has(row.id)) followSseTurn(row.id, row.kind);
    }
  }
  if (!refresh && view !== "report") follower.toEnd();
  else follower.update();
  scheduleRecheck();
}

// A turn the transcript says is streaming normally gets a `turn` frame on this socket. If it
// ended in the instant between the transcript read and the socket's subscription, no frame
// comes: look again a little later and take the finished text from the transcript.
function waitingForStream() {
  return order.some((id) => turns.get(id).status === "streaming" && !announced.has(id));
}

function scheduleRecheck() {
  clearTimeout(recheckTimer);
  if (!waitingForStream()) {
    rechecks = 0;
    return;
  }
  if (rechecks >= RECHECK_DELAYS_MS.length) return;
  const current = link;
  recheckTimer = setTimeout(() => {
    if (current === link && ready && waitingForStream()) loadTranscript(current);
  }, RECHECK_DELAYS_MS[rechecks++]);
}

// -- the candidate's moves ------------------------------------------------------------------------------

function addLocalCandidate(kind, text) {
  const turn = newTurn(`local-${++localIds}`, "candidate", kind);
  turn.local = true;
  turn.status = "sending";
  setText(turn, text);
  renderTurn(turn);
  order.push(turn.id);
  els.transcript.append(turn.el);
  pendingAnswer = { id: turn.id, text };
  follower.toEnd();
  return turn;
}

function sendAnswer() {
  const text = els.answer.value;
  if (!text.trim() || els.send.disabled || els.send.hidden) return;
  clearNotice();
  if (mode === "ws" && !send({ type: "answer", text })) return;
  addLocalCandidate("answer", text);
  els.answer.value = "";
  updateControls();
  if (mode === "sse") {
    postMove("/answers", { text })
      .then((started) => {
        if (started) startedOverHttp(started.turn_id, "question");
      })
      .catch(moveFailed);
  }
}

function skipQuestion() {
  if (els.skip.disabled) return;
  clearNotice();
  if (mode === "ws" && !send({ type: "skip" })) return;
  addLocalCandidate("skip", "(skipped)");
  updateControls();
  if (mode === "sse") {
    postMove("/skip")
      .then((started) => {
        if (started) startedOverHttp(started.turn_id, "question");
      })
      .catch(moveFailed);
  }
}

function retryReply() {
  const last = lastInterviewerTurn();
  if (!last || els.retry.disabled) return;
  clearNotice();
  if (mode === "ws") {
    if (send({ type: "retry" })) inFlight = "retry";
    updateControls();
    return;
  }
  inFlight = "retry";
  updateControls();
  postMove("/retry")
    .then((started) => {
      if (started) startedOverHttp(started.turn_id, last.kind);
    })
    .catch(moveFailed);
}

function finishInterview() {
  if (els.finish.disabled) return;
  clearNotice();
  if (mode === "ws") {
    if (send({ type: "finish" })) inFlight = "finish";
    updateControls();
    return;
  }
  inFlight = "finish";
  updateControls();
  postMove("/finish")
    .then((started) => {
      if (started) startedOverHttp(started.turn_id, "report");
    })
    .catch(moveFailed);
}

function stopReply() {
  voice.stopPlayback();
  const turn = streamingTurn();
  if (!turn) return;
  els.stop.disabled = true;
  if (mode === "ws") {
    if (!send({ type: "cancel", turn_id: turn.id })) els.stop.disabled = false;
    return;
  }
  // The response comes once the turn has ended; its stream delivers `done` (cancelled).
  postMove(`/turns/${encodeURIComponent(turn.id)}/cancel`).catch(moveFailed);
}

function startedOverHttp(turnId, kind) {
  if (sseOffline) {
    sseOffline = false;
    setConnected();
  }
  if (turns.has(turnId) && announced.has(turnId)) return;
  followSseTurn(turnId, kind);
  if (link) loadTranscript(link, { refresh: true }); // the turn's real kind, the answer's id
}

function moveFailed(err) {
  if (pendingAnswer) rejectAnswer();
  inFlight = null;
  showNotice(err.message || "The server refused that.");
  els.stop.disabled = false;
  updateControls();
}

function confirmAnswer() {
  const turn = turns.get(pendingAnswer.id);
  pendingAnswer = null;
  if (!turn) return;
  turn.status = "complete";
  renderTurn(turn);
}

function rejectAnswer() {
  const turn = turns.get(pendingAnswer.id);
  if (turn?.kind === "answer" && !els.answer.value) els.answer.value = pendingAnswer.text;
  pendingAnswer = null;
  if (!turn) return;
  turn.el.remove();
  turns.delete(turn.id);
  order = order.filter((id) => id !== turn.id);
  updateControls();
}

// -- controls -------------------------------------------------------------------------------------------

function isLive() {
  if (mode === "sse") return Boolean(ready && link && !sseOffline);
  return Boolean(socket && socket.readyState === SOCKET_OPEN && ready);
}

function updateControls() {
  if (!session) return;
  const live = isLive();
  const speaking = streamingTurn();
  const last = lastInterviewerTurn();
  const finished = session.status === "finished";
  const closed = finished || last?.kind === "closing";
  const failedLast = Boolean(last && FAILED.has(last.status));
  const busy = Boolean(speaking) || Boolean(pendingAnswer) || Boolean(inFlight);

  els.stop.hidden = !speaking;
  if (!speaking) els.stop.disabled = false;
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

  let hint = "";
  if (!live) hint = "Waiting for the connection…";
  else if (speaking?.kind === "report") hint = "Writing your summary…";
  else if (speaking?.queued != null) hint = "Waiting for the model…";
  else if (speaking) hint = "The interviewer is speaking. Esc stops.";
  else if (finished) hint = last?.kind === "report" && last.status === "complete" ? "The interview is over. Here is your report." : "The interview is over.";
  else if (failedLast) hint = last.status === "cancelled" ? "Reply stopped. Retry it, or answer anyway." : "The last reply failed. Retry it, or answer anyway.";
  else if (closed) hint = "That was the last question. Finish to get your report.";
  else if (pendingAnswer) hint = "Sending…";
  else hint = "Your turn.";
  els.hint.textContent = hint;
}

// -- the report ------------------------------------------------------------------------------------------

/** Show the report panel ("report") or just the transcript. */
export function setView(next, { push = false, scroll = false } = {}) {
  if (!session) return;
  view = next === "report" ? "report" : "transcript";
  if (push) {
    const hash = `#session=${encodeURIComponent(session.id)}${view === "report" ? "&view=report" : ""}`;
    if (location.hash !== hash) history.pushState(null, "", hash);
  }
  els.view.dataset.view = view;
  els.transcriptTitle.classList.toggle("visually-hidden", view !== "report");
  if (view === "report") {
    follower.set(false); // the reader is reading the report: new text must not pull them away
    els.reportPanel.hidden = false;
    if (!report) {
      report = new ReportView(els.reportPanel, session.id, { reveal: revealTurn });
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
  updateControls();
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
  if (session) renderTitle();
}

function renderTitle() {
  const title = session?.pack ? hooks.packTitle(session.pack) : "Interview";
  els.title.textContent = title;
  els.eyebrow.textContent = session?.status === "finished" ? "Finished interview" : "Mock interview";
  document.title = `${title} · hotseat`;
}

export function openSession(id, { view: wanted = "transcript" } = {}) {
  if (session?.id === id) {
    if (wanted !== view) setView(wanted);
    return;
  }
  closeSession();
  epoch += 1;
  session = { id, pack: null, status: "active" };
  mode = hooks.preferredTransport();
  wsNeverOpened = 0;
  els.view.hidden = false;
  renderTitle();
  setView(wanted);
  updateControls();
  connect();
  voice.setSession(id);
  if (matchMedia("(pointer: fine)").matches && wanted !== "report") els.answer.focus(); // no surprise keyboard on phones
}

export function closeSession() {
  epoch += 1;
  clearTimeout(reconnectTimer);
  clearTimeout(recheckTimer);
  reconnectTimer = 0;
  rechecks = 0;
  attempts = 0;
  streamFailures = 0;
  const ws = socket;
  socket = null;
  link = null;
  if (ws) ws.close(1000, "closed by the page");
  closeAllStreams();
  sseOffline = false;
  report?.destroy();
  report = null;
  view = "transcript";
  showReportWhenDone = false;
  els.reportPanel.hidden = true;
  els.reportPanel.replaceChildren();
  session = null;
  turns = new Map();
  order = [];
  announced = new Set();
  ready = false;
  pendingAnswer = null;
  inFlight = null;
  lastSent = null;
  els.transcript.replaceChildren();
  els.answer.value = "";
  els.view.hidden = true;
  voice.setSession(null);
  clearAnnouncements();
}

/** The transport setting changed: reopen the session over the new one. */
export function reopen() {
  if (!session) return;
  const { id } = session;
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
  if (event.key === "Escape" && streamingTurn()) {
    event.preventDefault();
    stopReply();
    return;
  }
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
  event.preventDefault();
  sendAnswer();
});
els.stop.addEventListener("click", stopReply);
voice.configure({ stopTurn: stopReply, streaming: () => streamingTurn(), socket: () => socket });
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
  updateControls();
});
follower.listeners.add(() => {
  if (session) els.jump.hidden = follower.following || !streamingTurn();
});
window.addEventListener("online", reconnectNow);
window.addEventListener("offline", () => {
  if (!session) return;
  if (mode === "sse") {
    if (sseOffline) return;
    sseOffline = true;
    setConn("offline", "Offline; waiting for the network…", "Server-Sent Events");
    updateControls();
    return;
  }
  // A socket can outlive the network silently (until the server's ping times out): drop it
  // now, and reconnect (the turn in progress streams again from its start) when it is back.
  if (socket) socket.close(4000, "offline");
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") reconnectNow();
});
