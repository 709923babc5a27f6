// The WebSocket transport: one socket per open interview (/ws?session=ID), turned into the events
// of state.js. It knows frames and sockets; it knows nothing of the page.
//
// On every (re)connect the server sends a turn still in progress as a `turn` frame and then its
// events from seq 1, and the controller reads the transcript for the finished turns. The page
// never sends `resume`. Each move carries a `ref`; the server answers it with `accepted` (and the
// turn it started) or an error frame with the same `ref`, so a reply is never matched by guessing.
// A dropped socket is reopened with backoff; three sockets in a row that never open (while the
// browser is online) mean the upgrade is refused somewhere, and the link asks to fall back to SSE.

import { reconnectLater } from "./backoff.js";
import { errorOf, streamEvent } from "./state.js";

const SOCKET_OPEN = 1;
const CLOSE_POLICY_VIOLATION = 1008; // the server's answer to an unknown session
const FAILURES_BEFORE_FALLBACK = 3;
const DETAIL = "WebSocket";

function socketUrl(sessionId) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws?session=${encodeURIComponent(sessionId)}`;
}

/** Frames of the socket -> events. Deltas carry no turn id: they belong to the last `turn` frame. */
export function frameEvent(frame, currentTurn) {
  switch (frame.type) {
    case "turn":
      return { type: "turn", turnId: frame.turn_id, kind: frame.kind, after: frame.after ?? 0 };
    case "delta":
      return { type: "delta", turnId: currentTurn, seq: frame.seq, text: frame.text };
    case "accepted":
      return { type: "accepted", ref: frame.ref, turnId: frame.turn_id, kind: frame.kind, candidateTurnId: frame.candidate_turn_id };
    case "error":
      if (frame.ref != null) return { type: "rejected", ref: frame.ref, error: errorOf(frame) };
      if (!frame.turn_id) return { type: "notice", message: frame.message || "The server refused that." };
      return streamEvent("error", frame.turn_id, frame);
    default:
      return streamEvent(frame.type, frame.turn_id, frame); // null: a newer server's frame this page does not know
  }
}

export class WsLink {
  /**
   * dispatch(event): feeds the reducer. opened(): the socket is open (read the transcript).
   * gone(message): the session does not exist. fallBack(): WebSockets cannot connect here.
   * speech(buffer): a binary frame (the interviewer's speech). audio(frame): true if the frame
   * was about a recording and is handled (it then goes no further).
   */
  constructor(sessionId, { dispatch, opened, gone, fallBack, speech, audio }) {
    this.sessionId = sessionId;
    this.hooks = { dispatch, opened, gone, fallBack, speech, audio };
    this.socket = null;
    this.attempts = 0; // reconnects since the last open
    this.streamFailures = 0; // deliveries that failed since a turn last ended (slows reconnects)
    this.neverOpened = 0; // sockets in a row that closed without opening
    this.timer = 0;
    this.stopped = false;
    this.generation = 0; // counts (re)connects: a read begun on an older one is stale
  }

  get open() {
    return Boolean(this.socket && this.socket.readyState === SOCKET_OPEN);
  }

  start() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.stopped) return;
    this.generation += 1;
    const ws = new WebSocket(socketUrl(this.sessionId));
    ws.binaryType = "arraybuffer"; // binary frames are the interviewer's speech (speaker.js)
    const { dispatch } = this.hooks;
    let opened = false;
    let turnId = null;
    this.socket = ws;
    dispatch({ type: "conn", state: "connecting", text: this.attempts ? "Reconnecting…" : "Connecting…", detail: DETAIL });
    ws.addEventListener("open", () => {
      if (ws !== this.socket) return;
      opened = true;
      this.neverOpened = 0;
      this.attempts = this.streamFailures;
      dispatch({ type: "opened" });
      dispatch({ type: "conn", state: "connected", text: "Connected", detail: DETAIL });
      this.hooks.opened();
    });
    ws.addEventListener("message", (message) => {
      if (ws !== this.socket) return;
      if (typeof message.data !== "string") {
        this.hooks.speech?.(message.data);
        return;
      }
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (this.hooks.audio?.(frame)) return; // about a recording (voice.js)
      if (frame.type === "turn") turnId = frame.turn_id;
      const event = frameEvent(frame, turnId);
      if (!event) return;
      if (event.type === "done" || event.type === "failed") this.streamFailures = 0;
      dispatch(event);
      if (event.type === "undelivered") {
        // Reopen the socket, which streams the turn again from its start.
        this.streamFailures += 1;
        ws.close();
      }
    });
    ws.addEventListener("close", (closed) => {
      if (ws !== this.socket) return;
      this.socket = null;
      dispatch({ type: "lost" });
      if (closed.code === CLOSE_POLICY_VIOLATION) {
        dispatch({ type: "conn", state: "offline", text: "Not connected" });
        this.hooks.gone("That interview no longer exists; start a new one.");
        return;
      }
      if (!opened && navigator.onLine) {
        // (Failures while the browser is offline say nothing about WebSockets.)
        this.neverOpened += 1;
        if (this.neverOpened >= FAILURES_BEFORE_FALLBACK) {
          this.stop();
          this.hooks.fallBack();
          return;
        }
      }
      reconnectLater(this, DETAIL);
      if (!navigator.onLine) dispatch({ type: "conn", state: "offline", text: "Offline; waiting for the network…", detail: DETAIL });
    });
  }

  /** The network is back or the tab is visible again: skip the rest of the wait. True: the socket
   * keeps the state current (an open one sends every turn; a new one, the transcript first). */
  reconnectNow() {
    if (!this.socket && this.timer) this.start();
    return true;
  }

  /** The browser went offline: a socket could look alive until the server's ping times out. */
  offline() {
    this.socket?.close(4000, "offline");
  }

  /** Send a frame; false (and nothing sent) when the socket is not open. */
  send(frame) {
    if (!this.open) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** The interview's moves, as frames with their `ref`. */
  move(ref, move, { text, turnId } = {}) {
    if (move === "answer") return this.send({ type: "answer", text, ref });
    if (move === "cancel") return this.send({ type: "cancel", turn_id: turnId, ref });
    return this.send({ type: move, ref });
  }

  loadFailed() {
    // The transcript could not be read: reconnect (with backoff) and read it again.
    this.socket?.close();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.socket;
    this.socket = null;
    if (ws) ws.close(1000, "closed by the page");
  }
}
