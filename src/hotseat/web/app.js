// hotseat: the minimal interview page. Vanilla ES module; no build step, no inline script.
//
// One WebSocket per open session (/ws?session=ID). Every (re)connect:
//   1. the socket opens; the server streams a turn still in progress from its start
//      (a `turn` frame, then deltas from seq 1), and announces every turn started later;
//   2. the page loads the transcript (GET /api/sessions/ID) and renders the finished turns
//      from it; a turn whose `turn` frame came on this socket is rendered from the stream
//      only, so its text never doubles.
// Text is always rendered with text nodes (never HTML).

const $ = (selector) => document.querySelector(selector);

const els = {
  conn: $("#conn"),
  notice: $("#notice"),
  noticeText: $("#notice-text"),
  noticeClose: $("#notice-close"),
  setup: $("#setup"),
  setupForm: $("#setup-form"),
  packs: $("#packs"),
  start: $("#start"),
  interview: $("#interview"),
  title: $("#session-title"),
  newInterview: $("#new-interview"),
  transcript: $("#transcript"),
  composer: $("#composer"),
  answer: $("#answer"),
  hint: $("#hint"),
  stop: $("#stop"),
  finish: $("#finish"),
  send: $("#send"),
};

const RECONNECT_DELAYS_MS = [250, 1000, 2000, 4000, 8000, 15000];
const RECHECK_DELAYS_MS = [1000, 3000, 8000];
const SOCKET_OPEN = 1;
const CLOSE_POLICY_VIOLATION = 1008; // the server's answer to an unknown session

let packs = [];
let session = null; // {id, pack, status}
let turns = new Map(); // turn id -> Turn
let order = []; // turn ids, transcript order
let socket = null;
let announced = new Set(); // turns whose stream began (a `turn` frame) on the current socket
let ready = false; // the current socket's transcript has been applied
let attempts = 0; // reconnects since the last successful open
let streamFailures = 0; // turn deliveries that failed since the last turn ended (slows reconnects)
let reconnectTimer = 0;
let recheckTimer = 0;
let rechecks = 0;
let lastSent = null; // the last frame sent: error frames without turn_id are about it
let pendingAnswer = null; // a local candidate turn the server has not confirmed yet
let localIds = 0;
let epoch = 0; // bumped when the open session changes; stale async results are dropped

// -- HTTP ---------------------------------------------------------------------------

async function api(path, options = {}) {
  const init = { headers: { Accept: "application/json" }, ...options };
  if (options.body !== undefined) {
    init.headers = { ...init.headers, "Content-Type": "application/json" };
    init.body = JSON.stringify(options.body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw Object.assign(new Error("The server cannot be reached; check that hotseat is running."), {
      status: 0,
    });
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data?.error?.message || `The server answered ${response.status}.`;
    throw Object.assign(new Error(message), { status: response.status, code: data?.error?.code });
  }
  return data;
}

// -- notices and connection status --------------------------------------------------------

function showNotice(message) {
  els.noticeText.textContent = message;
  els.notice.hidden = false;
}

function clearNotice() {
  els.notice.hidden = true;
  els.noticeText.textContent = "";
}

function setConn(state, text) {
  els.conn.dataset.state = state;
  els.conn.textContent = text;
}

// -- the setup screen ----------------------------------------------------------------------

async function showSetup() {
  closeSession();
  els.interview.hidden = true;
  els.setup.hidden = false;
  document.title = "hotseat · mock interview";
  setConn("idle", "Not connected");
  if (packs.length) return;
  try {
    packs = await api("/api/packs");
  } catch (err) {
    $("#packs-loading").textContent = `Could not load the interviews: ${err.message}`;
    return;
  }
  renderPacks();
}

function renderPacks() {
  els.packs.replaceChildren(els.packs.querySelector("legend"));
  packs.forEach((pack, index) => {
    const label = document.createElement("label");
    label.className = "pack";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "pack";
    input.value = pack.id;
    input.checked = index === 0;
    const body = document.createElement("span");
    body.className = "pack-body";
    const title = document.createElement("span");
    title.className = "pack-title";
    title.id = `pack-${index}-title`;
    title.textContent = pack.title;
    const description = document.createElement("span");
    description.className = "pack-description";
    description.id = `pack-${index}-description`;
    description.textContent = pack.description;
    input.setAttribute("aria-labelledby", title.id);
    input.setAttribute("aria-describedby", description.id);
    const meta = document.createElement("span");
    meta.className = "pack-meta muted";
    const count = pack.question_count;
    meta.textContent = `${count} question${count === 1 ? "" : "s"} · ${pack.language}`;
    body.append(title, description, meta);
    label.append(input, body);
    els.packs.append(label);
  });
  if (!packs.length) {
    const empty = document.createElement("p");
    empty.className = "muted";
    empty.textContent = "No interview packs are installed.";
    els.packs.append(empty);
  }
  els.start.disabled = !packs.length;
}

async function startInterview(event) {
  event.preventDefault();
  const chosen = els.setupForm.querySelector("input[name=pack]:checked");
  if (!chosen) return;
  clearNotice();
  els.start.disabled = true;
  els.start.textContent = "Starting…";
  try {
    const created = await api("/api/sessions", { method: "POST", body: { pack: chosen.value } });
    location.hash = `session=${encodeURIComponent(created.id)}`; // hashchange opens it
  } catch (err) {
    showNotice(`Could not start the interview: ${err.message}`);
  } finally {
    els.start.disabled = false;
    els.start.textContent = "Start interview";
  }
}

// -- turns --------------------------------------------------------------------------------

function newTurn(id, role, kind) {
  const el = document.createElement("li");
  el.className = `turn ${role}`;
  el.dataset.turnId = id;
  const who = document.createElement("div");
  who.className = "who";
  const text = document.createElement("div");
  text.className = "text";
  const node = document.createTextNode("");
  text.append(node);
  const meta = document.createElement("div");
  meta.className = "meta";
  el.append(who, text, meta);
  const turn = {
    id, role, kind, status: "streaming", finishReason: null, error: null, queued: null,
    lastSeq: 0, local: false, el, who, node, meta,
  };
  turns.set(id, turn);
  return turn;
}

function ensureTurn(id, kind) {
  const existing = turns.get(id);
  if (existing) return existing;
  const turn = newTurn(id, "interviewer", kind || "question");
  order.push(id);
  els.transcript.append(turn.el);
  return turn;
}

function renderTurn(turn) {
  const { el } = turn;
  el.className = `turn ${turn.role}${turn.kind === "report" ? " report" : ""}`;
  el.dataset.role = turn.role;
  el.dataset.kind = turn.kind;
  el.dataset.status = turn.status;
  turn.who.textContent =
    turn.role === "candidate" ? "You" : turn.kind === "report" ? "Report" : "Interviewer";
  let meta = "";
  if (turn.status === "streaming" && turn.queued != null) {
    meta = `Waiting for the model (position ${turn.queued} in the queue)…`;
  } else if (turn.status === "cancelled") {
    meta = "Stopped.";
  } else if (turn.status === "failed" || turn.status === "interrupted") {
    meta = turn.error?.message || "This reply failed.";
  } else if (turn.finishReason === "length") {
    meta = "Cut off: the reply reached the length limit.";
  } else if (turn.local && turn.status === "sending") {
    meta = "Sending…";
  }
  turn.meta.textContent = meta;
  turn.meta.hidden = !meta;
  el.classList.toggle("problem", turn.status === "failed" || turn.status === "interrupted");
}

function setText(turn, text) {
  turn.node.data = text;
}

function scrollToEnd(force = false) {
  const doc = document.scrollingElement;
  const nearEnd = doc.scrollHeight - doc.scrollTop - doc.clientHeight < 160;
  if (force || nearEnd) doc.scrollTop = doc.scrollHeight;
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

// -- frames from the server ---------------------------------------------------------------

function onFrame(frame) {
  switch (frame.type) {
    case "turn": {
      const isNew = !turns.has(frame.turn_id);
      const turn = ensureTurn(frame.turn_id, frame.kind);
      // The stream of this turn starts over from its beginning: drop what we had.
      announced.add(turn.id);
      turn.kind = frame.kind || turn.kind;
      turn.status = "streaming";
      turn.finishReason = null;
      turn.error = null;
      turn.queued = null;
      turn.lastSeq = 0;
      setText(turn, "");
      // A new interviewer turn means the server took the answer we sent.
      if (isNew && pendingAnswer) confirmAnswer();
      if (turn.kind === "report" && session) session.status = "finished";
      renderTurn(turn);
      scrollToEnd(true);
      break;
    }
    case "delta": {
      const turn = ensureTurn(frame.turn_id);
      if (frame.seq <= turn.lastSeq) return; // already have it
      turn.lastSeq = frame.seq;
      turn.node.appendData(frame.text);
      if (turn.queued != null) {
        turn.queued = null;
        renderTurn(turn);
      }
      scrollToEnd();
      return; // controls do not change on a delta
    }
    case "queued": {
      const turn = ensureTurn(frame.turn_id);
      if (frame.seq <= turn.lastSeq) return;
      turn.lastSeq = frame.seq;
      turn.queued = frame.position;
      renderTurn(turn);
      return;
    }
    case "done": {
      const turn = ensureTurn(frame.turn_id);
      if (frame.seq < turn.lastSeq) return;
      turn.lastSeq = frame.seq;
      turn.queued = null;
      turn.finishReason = frame.finish_reason;
      turn.status = frame.finish_reason === "cancelled" ? "cancelled" : "complete";
      streamFailures = 0;
      renderTurn(turn);
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
        turn.error = { code: frame.code, message: frame.message };
        renderTurn(turn);
      } else {
        // About the last frame we sent (e.g. `conflict`: the interviewer is still speaking).
        if (lastSent?.type === "answer" && pendingAnswer) rejectAnswer();
        if (lastSent?.type === "cancel") els.stop.disabled = false;
        showNotice(frame.message || "The server refused that.");
      }
      break;
    }
    default:
      return; // a newer server's frame this page does not know: ignore it
  }
  updateControls();
}

// -- the socket ---------------------------------------------------------------------------

function wsUrl(sessionId) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws?session=${encodeURIComponent(sessionId)}`;
}

function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = 0;
  if (!session) return;
  const ws = new WebSocket(wsUrl(session.id));
  socket = ws;
  announced = new Set();
  ready = false;
  setConn("connecting", attempts ? "Reconnecting…" : "Connecting…");
  ws.addEventListener("open", () => {
    if (ws !== socket) return;
    attempts = streamFailures;
    setConn("connected", "Connected");
    loadTranscript(ws);
    updateControls();
  });
  ws.addEventListener("message", (event) => {
    if (ws !== socket) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    onFrame(frame);
  });
  ws.addEventListener("close", (event) => {
    if (ws !== socket) return;
    socket = null;
    ready = false;
    clearTimeout(recheckTimer);
    if (event.code === CLOSE_POLICY_VIOLATION) {
      setConn("offline", "Not connected");
      forgetSession("That interview no longer exists; start a new one.");
      return;
    }
    scheduleReconnect();
    updateControls();
  });
}

function scheduleReconnect() {
  if (!session || reconnectTimer) return;
  const base = RECONNECT_DELAYS_MS[Math.min(attempts, RECONNECT_DELAYS_MS.length - 1)];
  const delay = Math.round(base * (0.8 + Math.random() * 0.4));
  attempts += 1;
  const seconds = Math.max(1, Math.round(delay / 1000));
  setConn("offline", `Connection lost; retrying in ${seconds} s…`);
  reconnectTimer = setTimeout(() => {
    reconnectTimer = 0;
    connect();
  }, delay);
}

function reconnectNow() {
  if (session && !socket && reconnectTimer) connect();
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

// -- the transcript -------------------------------------------------------------------------

async function loadTranscript(ws) {
  const mine = epoch;
  let data;
  try {
    data = await api(`/api/sessions/${encodeURIComponent(session.id)}`);
  } catch (err) {
    if (mine !== epoch || ws !== socket) return;
    if (err.status === 404) {
      forgetSession("That interview no longer exists; start a new one.");
    } else {
      showNotice(`Could not load the transcript: ${err.message}`);
      ws.close(); // reconnect (with backoff) and try again
    }
    return;
  }
  if (mine !== epoch || ws !== socket) return; // a newer socket loads its own
  applyTranscript(data);
  ready = true;
  updateControls();
}

function applyTranscript(data) {
  session.pack = data.pack;
  session.status = data.status;
  renderTitle();
  const next = [];
  for (const row of data.turns) {
    const turn = turns.get(row.id) || newTurn(row.id, row.role, row.kind);
    turn.role = row.role;
    turn.kind = row.kind;
    if (!announced.has(row.id)) {
      if (row.status === "streaming") {
        // Still generating: its text comes only from this socket's stream (a `turn`
        // frame restarts it from the beginning). Until then keep what we have.
        turn.status = "streaming";
      } else {
        setText(turn, row.text);
        turn.status = row.status;
        turn.finishReason = row.finish_reason;
        turn.error = row.error;
        turn.queued = null;
      }
    }
    renderTurn(turn);
    next.push(row.id);
  }
  // Turns announced on this socket after the transcript was read come after it.
  const listed = new Set(next);
  for (const id of order) {
    if (!listed.has(id) && announced.has(id)) next.push(id);
  }
  // Local answers are replaced by the server's record of them.
  if (pendingAnswer) {
    const candidateTexts = data.turns.filter((t) => t.role === "candidate").map((t) => t.text);
    if (candidateTexts.at(-1) !== pendingAnswer.text) {
      if (!els.answer.value) els.answer.value = pendingAnswer.text;
      showNotice("Your last answer did not reach the server; send it again.");
    }
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
  scrollToEnd(true);
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
  const ws = socket;
  recheckTimer = setTimeout(() => {
    if (ws === socket && ready && waitingForStream()) loadTranscript(ws);
  }, RECHECK_DELAYS_MS[rechecks++]);
}

// -- the candidate's moves -----------------------------------------------------------------

function sendAnswer() {
  const text = els.answer.value;
  if (!text.trim() || els.send.disabled) return;
  clearNotice();
  if (!send({ type: "answer", text })) return;
  const turn = newTurn(`local-${++localIds}`, "candidate", "answer");
  turn.local = true;
  turn.status = "sending";
  setText(turn, text);
  renderTurn(turn);
  order.push(turn.id);
  els.transcript.append(turn.el);
  pendingAnswer = { id: turn.id, text };
  els.answer.value = "";
  updateControls();
  scrollToEnd(true);
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
  if (!els.answer.value) els.answer.value = pendingAnswer.text;
  pendingAnswer = null;
  if (!turn) return;
  turn.el.remove();
  turns.delete(turn.id);
  order = order.filter((id) => id !== turn.id);
}

function stopReply() {
  const turn = streamingTurn();
  if (!turn) return;
  if (send({ type: "cancel", turn_id: turn.id })) els.stop.disabled = true;
}

function finishInterview() {
  clearNotice();
  if (send({ type: "finish" })) els.finish.disabled = true;
}

// -- controls ----------------------------------------------------------------------------------

function updateControls() {
  if (!session) return;
  const live = Boolean(socket && socket.readyState === SOCKET_OPEN && ready);
  const speaking = streamingTurn();
  const last = lastInterviewerTurn();
  const finished = session.status === "finished";
  const closed = finished || last?.kind === "closing";
  els.stop.hidden = !speaking;
  if (!speaking) els.stop.disabled = false;
  els.send.disabled = !live || Boolean(speaking) || closed || Boolean(pendingAnswer);
  els.finish.disabled = !live || Boolean(speaking) || finished;
  els.finish.hidden = finished;
  els.send.hidden = finished;
  els.answer.disabled = closed;
  els.composer.classList.toggle("over", finished);
  els.transcript.setAttribute("aria-busy", speaking ? "true" : "false");
  let hint = "";
  if (!live) hint = "Waiting for the connection…";
  else if (speaking?.kind === "report") hint = "Writing your report…";
  else if (speaking) hint = "The interviewer is speaking.";
  else if (finished) hint = last?.kind === "report" ? "The interview is over. Here is your report." : "The interview is over.";
  else if (closed) hint = "That was the last question. Finish to get your report.";
  else if (pendingAnswer) hint = "Sending…";
  else hint = "Your turn.";
  els.hint.textContent = hint;
}

// -- opening and closing a session --------------------------------------------------------------

function renderTitle() {
  const pack = packs.find((p) => p.id === session?.pack);
  const title = pack ? pack.title : session?.pack || "Interview";
  els.title.textContent = title;
  document.title = `${title} · hotseat`;
}

function openSession(id) {
  if (session?.id === id) return;
  closeSession();
  epoch += 1;
  session = { id, pack: null, status: "active" };
  els.setup.hidden = true;
  els.interview.hidden = false;
  renderTitle();
  updateControls();
  connect();
  if (!packs.length) {
    const mine = epoch;
    api("/api/packs")
      .then((list) => {
        packs = list;
        renderPacks();
        if (mine === epoch) renderTitle();
      })
      .catch(() => {});
  }
  if (matchMedia("(pointer: fine)").matches) els.answer.focus(); // no surprise keyboard on phones
}

function closeSession() {
  epoch += 1;
  clearTimeout(reconnectTimer);
  clearTimeout(recheckTimer);
  reconnectTimer = 0;
  rechecks = 0;
  attempts = 0;
  streamFailures = 0;
  const ws = socket;
  socket = null;
  if (ws) ws.close(1000, "closed by the page");
  session = null;
  turns = new Map();
  order = [];
  announced = new Set();
  ready = false;
  pendingAnswer = null;
  lastSent = null;
  els.transcript.replaceChildren();
  els.answer.value = "";
}

function forgetSession(message) {
  history.replaceState(null, "", location.pathname + location.search);
  showSetup();
  showNotice(message);
}

function sessionFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  return params.get("session");
}

function route() {
  const id = sessionFromHash();
  if (id) openSession(id);
  else showSetup();
}

// -- wiring ---------------------------------------------------------------------------------------

els.setupForm.addEventListener("submit", startInterview);
els.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  sendAnswer();
});
els.answer.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
  event.preventDefault();
  sendAnswer();
});
els.stop.addEventListener("click", stopReply);
els.finish.addEventListener("click", finishInterview);
els.newInterview.addEventListener("click", () => {
  history.pushState(null, "", location.pathname + location.search);
  clearNotice();
  showSetup();
});
els.noticeClose.addEventListener("click", clearNotice);
window.addEventListener("hashchange", route);
window.addEventListener("popstate", route);
window.addEventListener("online", reconnectNow);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") reconnectNow();
});

route();
