// The interview's state, and the one function that changes it: reduce(state, event) -> state.
//
// Pure: no DOM, no network, no timers, no clock. The transports (link-ws.js, link-sse.js) turn
// frames, responses and connection changes into the events below; the page's own actions (a move
// sent) are events too. The view (view.js) renders whatever state results. A state is never
// changed in place: every event returns a new state, and a turn that did not change is the same
// object as before, so the view can skip it.
//
// Events (every field not named is absent):
//   conn        {state, text, detail}         the connection status ("connecting", "connected", "offline")
//   opened      {}                            a new link: no turn has streamed on it yet
//   lost        {}                            the link closed; moves wait for the next one
//   transport   {transport}                   the page fell back to another transport ("sse")
//   transcript  {data, refresh}               GET /api/sessions/ID; refresh: a re-read on a live link
//   turn        {turnId, kind?, after}        a turn's stream (re)starts: after 0 drops the text we had
//   delta       {turnId, seq, text}
//   queued      {turnId, seq, position}
//   done        {turnId, seq, finishReason}
//   failed      {turnId, seq, error}          the turn's terminal error
//   undelivered {turnId, message, code}       this link could not deliver the turn (the turn is fine)
//   sent        {ref, move, text?, turnId?}   the page sent a move (answer, skip, retry, finish, cancel)
//   accepted    {ref, turnId?, kind?, candidateTurnId?}
//                                             the server took it; turnId/kind: the turn it started;
//                                             candidateTurnId: the server's id of the answer or skip
//   rejected    {ref, error}                  the server refused it (or it never got there)
//   notice      {message, tone?}              a message for the candidate
//   reportShown {}                            the report the finish asked for was opened

/** Terminal statuses after which Retry is offered. */
export const FAILED = new Set(["failed", "interrupted", "cancelled"]);

const CANDIDATE_KINDS = new Set(["answer", "skip"]);

/** The state of a session just opened, before anything was heard about it. */
export function initialState(sessionId, transport) {
  return {
    sessionId,
    transport, // "ws" or "sse"
    pack: null,
    status: "active", // the session's: "active" or "finished"
    conn: { state: "connecting", text: "Connecting…", detail: "" },
    ready: false, // the current link's transcript has been applied
    turns: [], // transcript order
    pending: null, // {ref, move, key?}: a move sent, not yet accepted or refused
    stopping: null, // the ref of a cancel sent for the streaming turn
    notice: { n: 0, message: "", tone: "error" }, // n counts notices, so the view shows each once
    draft: { n: 0, text: "" }, // text to give back to the answer box (a refused answer)
    reportDue: false, // a report turn started here: open the report when it is complete
    locals: 0, // local keys handed out
  };
}

// -- queries (used by the view and the controller) -----------------------------------------------------------

export function streamingTurn(state) {
  return state.turns.findLast((t) => t.role === "interviewer" && t.status === "streaming") ?? null;
}

export function lastInterviewerTurn(state) {
  return state.turns.findLast((t) => t.role === "interviewer") ?? null;
}

/** Moves can be sent: the link is up and the transcript is in. */
export function isLive(state) {
  return state.ready && state.conn.state === "connected";
}

/** The report this page asked for is written: time to show it. */
export function reportReady(state) {
  return state.reportDue && state.turns.some((t) => t.kind === "report" && t.status === "complete");
}

/** Turns the transcript lists as generating that no stream on this link has delivered yet. */
export function unfollowed(state) {
  return state.turns.filter((t) => t.status === "streaming" && !t.followed);
}

// -- the reducer --------------------------------------------------------------------------------------------------

export function reduce(state, event) {
  switch (event.type) {
    case "conn":
      return { ...state, conn: { state: event.state, text: event.text, detail: event.detail ?? "" } };
    case "opened":
      // Nothing has streamed on the new link: the next transcript decides every turn again.
      return { ...state, ready: false, turns: state.turns.map((t) => (t.followed ? { ...t, followed: false } : t)) };
    case "lost":
      return lost(state);
    case "transport":
      return { ...state, transport: event.transport, ready: false };
    case "transcript":
      return applyTranscript(state, event.data, event.refresh);
    case "turn":
      return startTurn(state, event);
    case "delta":
      return onTurn(state, event.turnId, event.seq, (t) => ({
        ...t, text: t.text + event.text, queued: null,
      }));
    case "queued":
      return onTurn(state, event.turnId, event.seq, (t) => ({ ...t, queued: event.position }));
    case "done":
      return endTurn(state, event, (t) => ({
        ...t,
        finishReason: event.finishReason,
        status: event.finishReason === "cancelled" ? "cancelled" : "complete",
      }));
    case "failed":
      return withNotice(
        endTurn(state, event, (t) => ({
          ...t, status: event.error.code === "interrupted" ? "interrupted" : "failed", error: event.error,
        })),
        errorAdvice(event.error),
      );
    case "undelivered":
      return withNotice(
        updateTurn(state, event.turnId, (t) => ({ ...t, followed: false })),
        event.message || "Streaming this reply failed; reconnecting.",
      );
    case "sent":
      return sent(state, event);
    case "accepted":
      return accepted(state, event);
    case "rejected":
      return rejected(state, event);
    case "notice":
      return withNotice(state, event.message, event.tone);
    case "reportShown":
      return { ...state, reportDue: false };
    default:
      return state; // an event this version does not know
  }
}

// -- helpers ---------------------------------------------------------------------------------------------------------

function withNotice(state, message, tone = "error") {
  return { ...state, notice: { n: state.notice.n + 1, message, tone } };
}

function updateTurn(state, id, change) {
  const index = state.turns.findIndex((t) => t.id === id);
  if (index === -1) return state;
  const turns = state.turns.slice();
  turns[index] = change(turns[index]);
  return { ...state, turns };
}

function newTurn({ id, role, kind }) {
  return {
    key: id, // the view's key: stays when a local turn learns its server id
    id,
    role,
    kind,
    text: "",
    rev: 0, // bumped when the text is replaced rather than extended
    fromRecord: false, // the text is the stored one (rendered whole), not a stream's
    status: "streaming",
    finishReason: null,
    error: null,
    queued: null,
    lastSeq: 0,
    followed: false, // its stream began on the current link
    local: false, // a candidate turn the server has not named yet
    after: null, // local: the id of the server turn it follows
  };
}

/** The turn `id`, appended when it is new: an interviewer turn (only they stream). */
function ensureTurn(state, id, kind, { followed = true } = {}) {
  if (state.turns.some((t) => t.id === id)) return state;
  const turn = { ...newTurn({ id, role: "interviewer", kind: kind || "question" }), followed };
  return { ...state, turns: [...state.turns, turn] };
}

/** A frame for a turn; dropped when its seq is not newer than the last one applied, or the turn has ended. */
function onTurn(state, id, seq, change) {
  const current = ensureTurn(state, id);
  return updateTurn(current, id, (t) => (seq <= t.lastSeq || t.status !== "streaming" ? t : { ...change(t), lastSeq: seq }));
}

function endTurn(state, event, change) {
  const current = ensureTurn(state, event.turnId);
  const turn = current.turns.find((t) => t.id === event.turnId);
  // A terminal event may repeat the last seq on a replay: only an older one is stale.
  if (event.seq < turn.lastSeq || turn.status !== "streaming") return current;
  const next = updateTurn(current, event.turnId, (t) => ({ ...change(t), queued: null, lastSeq: event.seq }));
  const stopping = streamingTurn(next) ? next.stopping : null;
  const ended = next.turns.find((t) => t.id === event.turnId);
  const reportDue = next.reportDue && !(ended.kind === "report" && ended.status !== "complete");
  return { ...next, stopping, reportDue };
}

function startTurn(state, { turnId, kind, after }) {
  const existing = state.turns.find((t) => t.id === turnId);
  let next = state;
  if (!existing) {
    next = ensureTurn(state, turnId, kind);
  } else if (after > 0) {
    // A resumed stream continues after what we have: keep the text.
    next = updateTurn(state, turnId, (t) => ({ ...t, kind: kind || t.kind, followed: true }));
  } else {
    // The turn's stream starts over from its beginning: drop what we had.
    next = updateTurn(state, turnId, (t) => ({
      ...t, kind: kind || t.kind, status: "streaming", text: "", rev: t.rev + 1, fromRecord: false,
      finishReason: null, error: null, queued: null, lastSeq: 0, followed: true,
    }));
  }
  if (!streamingTurn(state)) next = { ...next, stopping: null }; // a Stop sent before belongs to no turn now
  const turn = next.turns.find((t) => t.id === turnId);
  if (turn.kind === "report" && turn.status === "streaming") {
    next = { ...next, status: "finished", reportDue: after > 0 ? next.reportDue : true };
  }
  return next;
}

function lost(state) {
  // A cancel, retry or finish that was not answered shows in the next transcript (or not): the
  // buttons come back. An answer or skip stays until that transcript says whether it arrived.
  const keep = state.pending && CANDIDATE_KINDS.has(state.pending.move);
  return { ...state, ready: false, pending: keep ? state.pending : null, stopping: null };
}

// -- moves ----------------------------------------------------------------------------------------------------------

function sent(state, { ref, move, text }) {
  const cleared = { ...state, notice: { ...state.notice, n: state.notice.n + 1, message: "" } };
  if (move === "cancel") return { ...cleared, stopping: ref };
  if (!CANDIDATE_KINDS.has(move)) return { ...cleared, pending: { ref, move } };
  // The candidate's turn shows at once; it takes the server's id from `accepted`, or, when that
  // never came (the link dropped), from the next transcript, where it is the first candidate turn
  // after the server turn it follows (never matched by its text).
  const key = `local-${state.locals + 1}`;
  const after = state.turns.findLast((t) => !t.local)?.id ?? null;
  const turn = {
    ...newTurn({ id: key, role: "candidate", kind: move }),
    text: move === "skip" ? "(skipped)" : text,
    status: "sending",
    local: true,
    after,
  };
  return { ...cleared, locals: state.locals + 1, turns: [...state.turns, turn], pending: { ref, move, key, text } };
}

function accepted(state, { ref, turnId, kind, candidateTurnId }) {
  if (ref && ref === state.stopping) {
    // A cancel is answered once the turn has ended, but its `done` may still be on the way.
    return turnId && streamingTurn(state)?.id === turnId ? state : { ...state, stopping: null };
  }
  const { pending } = state;
  if (!pending || pending.ref !== ref) return state;
  let next = { ...state, pending: null };
  if (pending.key) {
    // The candidate's turn takes the server's id now (the transcript would give it otherwise).
    const named = candidateTurnId && !next.turns.some((t) => t.id === candidateTurnId);
    next = updateTurn(next, pending.key, (t) =>
      named ? { ...t, id: candidateTurnId, local: false, after: null, status: "complete" } : { ...t, status: "complete" });
  }
  if (turnId && !next.turns.some((t) => t.id === turnId)) {
    // Its stream follows (the socket's `turn` frame, or the rest of the move's SSE response).
    next = ensureTurn(next, turnId, kind, { followed: false });
  }
  if (pending.move === "finish") next = { ...next, status: "finished", reportDue: true };
  return next;
}

function rejected(state, { ref, error }) {
  const message = error?.message || "The server refused that.";
  if (ref && ref === state.stopping) return withNotice({ ...state, stopping: null }, message);
  const { pending } = state;
  if (!pending || pending.ref !== ref) return withNotice(state, message);
  return withNotice(dropLocal({ ...state, pending: null }, pending), message);
}

/** Remove a local candidate turn that never reached the server; its words go back to the box. */
function dropLocal(state, pending) {
  if (!pending.key) return state;
  const turns = state.turns.filter((t) => t.key !== pending.key);
  const draft = pending.move === "answer" ? { n: state.draft.n + 1, text: pending.text } : state.draft;
  return { ...state, turns, draft };
}

// -- the transcript -----------------------------------------------------------------------------------------------

function fromRecord(turn, row) {
  return {
    ...turn,
    text: row.text,
    rev: turn.rev + 1,
    fromRecord: true,
    status: row.status,
    finishReason: row.finish_reason,
    error: row.error,
    queued: null,
  };
}

function applyTranscript(state, data, refresh) {
  const rows = data.turns;
  const byId = new Map(state.turns.map((t) => [t.id, t]));
  // Local candidate turns take the id of the first candidate turn after the turn they follow.
  const named = new Map(); // row id -> local turn
  for (const local of state.turns.filter((t) => t.local)) {
    const start = local.after === null ? 0 : rows.findIndex((r) => r.id === local.after) + 1;
    if (local.after !== null && start === 0) continue;
    const row = rows.slice(start).find((r) => r.role === "candidate" && r.kind === local.kind);
    if (row && !byId.has(row.id) && !named.has(row.id)) named.set(row.id, local);
  }
  let { pending } = state;
  const turns = rows.map((row) => {
    const local = named.get(row.id);
    if (local) {
      if (pending?.key === local.key) pending = null;
      return { ...local, id: row.id, local: false, after: null, status: row.status };
    }
    const turn = byId.get(row.id) || { ...newTurn(row), role: row.role, kind: row.kind };
    const next = { ...turn, role: row.role, kind: row.kind };
    // A turn streamed on this link is the stream's; the others are the record's, except that a
    // turn still generating gets its text only from a stream (from its start), never from here.
    if (turn.followed) return next;
    return row.status === "streaming" ? { ...next, status: "streaming" } : fromRecord(next, row);
  });
  // Turns that streamed on this link after the transcript was read, and local turns not yet
  // named, come after it.
  const listed = new Set(turns.map((t) => t.key));
  for (const turn of state.turns) {
    if (listed.has(turn.key)) continue;
    if (turn.followed || (turn.local && (refresh || pending?.key === turn.key))) turns.push(turn);
  }
  let next = { ...state, pack: data.pack, status: data.status, turns, pending, ready: state.ready || !refresh };
  if (!refresh && pending?.key && state.transport === "ws") {
    // The socket closed before the server took the answer, and the transcript lacks it.
    next = withNotice(dropLocal({ ...next, pending: null }, pending), "Your last answer did not reach the server; send it again.");
  }
  return next;
}

// -- the transports' shared frames ------------------------------------------------------------------------------------

/** A turn's `queued`, `done` or `error` (WebSocket frame or SSE message data) as an event; null otherwise.
 * An error without a seq did not end the turn: this link could not deliver it. */
export function streamEvent(type, turnId, data) {
  switch (type) {
    case "queued":
      return { type: "queued", turnId, seq: data.seq, position: data.position };
    case "done":
      return { type: "done", turnId, seq: data.seq, finishReason: data.finish_reason };
    case "error":
      if (data.seq == null) return { type: "undelivered", turnId, message: data.message, code: data.code };
      return { type: "failed", turnId, seq: data.seq, error: errorOf(data) };
    default:
      return null;
  }
}

/** The error object of an error frame or message, as the reducer keeps it. */
export function errorOf(data) {
  return { code: data.code, message: data.message, retryable: data.retryable, retry_after: data.retry_after };
}

// -- wording ------------------------------------------------------------------------------------------------------

// The codes that say a retry may succeed (docs/protocol.md); the transcript's stored error has
// only code and message, so the hint is derived from the code there.
const RETRYABLE = new Set([
  "busy", "interrupted", "rate_limited", "unavailable", "upstream_error", "upstream_rate_limited", "upstream_timeout",
  "upstream_unavailable",
]);

/** What a failed turn says: the server's message and whether (and when) a retry may succeed. */
export function errorAdvice(error) {
  if (!error) return "This reply failed.";
  let text = error.message || "This reply failed.";
  if (error.retry_after) text += ` You can retry in ${Math.ceil(error.retry_after)} s.`;
  else if (error.retryable ?? RETRYABLE.has(error.code)) text += " You can retry it.";
  return text;
}
