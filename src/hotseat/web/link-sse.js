// The Server-Sent Events transport: moves over HTTP, each turn read from
// GET /api/sessions/ID/turns/TID/events, all turned into the events of state.js.
//
// A move (answer, skip, retry, finish) is a POST asking for `text/event-stream`: its response is an
// `accepted` event (the 202's JSON: the turn it started, and the candidate's turn it stored), which
// the link reports with the move's ref, and then that turn's events, so the reply's first words
// come one request and one round trip sooner than a 202 and then a GET. If that response breaks
// before the turn's end, the rest is read from GET /api/sessions/ID/turns/TID/events?after=<seq>.
// A cancel is a plain POST. A stream that starts at seq 1 is opened without `after`:
// `after` in the URL outranks Last-Event-ID, and EventSource reconnects to the same URL, so with
// `?after=0` every automatic reconnect would replay the turn from the start. Without it the
// browser reconnects by itself with Last-Event-ID. A stream the page has to reopen (the browser
// gave up, or the server said this delivery failed) carries `?after=<last seq>`, and the page, not
// the browser, reopens that one if it drops again. A stream is closed on its turn's `done` or
// `error`; otherwise EventSource would reconnect when the response ends.

import { api, apiStream } from "./api.js";
import { reconnectLater, retryDelay } from "./backoff.js";
import { streamEvent } from "./state.js";
import { EventSourceParserStream } from "./vendor/eventsource-parser/stream.js";

const DETAIL = "Server-Sent Events";
const PATHS = { answer: "/answers", skip: "/skip", retry: "/retry", finish: "/finish" };

/** One SSE message -> an event (a delta's data is only its text: the seq is the event id). */
export function messageEvent(turnId, type, data, lastEventId) {
  switch (type) {
    case "delta":
      return { type: "delta", turnId, seq: Number(lastEventId), text: data.text };
    default:
      return streamEvent(type, turnId, data);
  }
}

export class SseLink {
  /** dispatch(event): feeds the reducer. opened(): read the transcript. */
  constructor(sessionId, { dispatch, opened }) {
    this.sessionId = sessionId;
    this.hooks = { dispatch, opened };
    this.streams = new Map(); // turn id -> {es, pinned, failures, timer, lastSeq}
    this.offlineShown = false;
    this.ready = false; // the transcript of this (re)load is in
    this.attempts = 0;
    this.timer = 0;
    this.stopped = false;
    this.generation = 0; // counts (re)connects: a read begun on an older one is stale
  }

  get base() {
    return `/api/sessions/${encodeURIComponent(this.sessionId)}`;
  }

  /** (Re)load: the controller reads the transcript and follows the turns it lists as streaming. */
  start() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.stopped) return;
    this.generation += 1;
    this.ready = false;
    this.hooks.dispatch({ type: "opened" });
    this.hooks.dispatch({ type: "conn", state: "connecting", text: this.attempts ? "Reconnecting…" : "Connecting…", detail: DETAIL });
    this.hooks.opened();
  }

  /** The transcript of this load is in. */
  loaded({ refresh }) {
    if (!refresh) this.attempts = 0;
    this.ready = true;
    this.online();
  }

  /** The transcript could not be read: try again after a backoff delay. */
  loadFailed() {
    reconnectLater(this, DETAIL);
  }

  online() {
    this.offlineShown = false;
    if (this.ready) this.hooks.dispatch({ type: "conn", state: "connected", text: "Connected", detail: DETAIL });
  }

  showOffline(text) {
    if (this.offlineShown) return;
    this.offlineShown = true;
    this.hooks.dispatch({ type: "conn", state: "offline", text, detail: DETAIL });
  }

  offline() {
    this.showOffline("Offline; waiting for the network…");
  }

  /** The network is back or the tab is visible: reopen waiting streams at once. True when the link
   * starts over (reading the transcript); false: the page should read it, turns may have started. */
  reconnectNow() {
    for (const [id, stream] of [...this.streams]) {
      if (stream.timer) {
        clearTimeout(stream.timer);
        this.open(id, stream.lastSeq, stream.failures);
      }
    }
    if (this.timer) {
      this.start();
      return true;
    }
    return false;
  }

  /** Read a turn from its start (a turn that started, or that the transcript lists as streaming). */
  follow(turnId, kind) {
    this.hooks.dispatch({ type: "turn", turnId, kind, after: 0 });
    this.open(turnId, 0, 0);
  }

  open(turnId, after, failures) {
    this.close(turnId);
    if (this.stopped) return;
    const url = `${this.base}/turns/${encodeURIComponent(turnId)}/events${after > 0 ? `?after=${after}` : ""}`;
    const es = new EventSource(url);
    // `pinned`: the URL carries `after`, so the browser's own reconnect would start from a stale point.
    const stream = { es, pinned: after > 0, failures, timer: 0, lastSeq: after };
    this.streams.set(turnId, stream);
    const current = () => this.streams.get(turnId) === stream && !this.stopped;
    const onMessage = (message) => {
      if (current()) this.receive(turnId, stream, message.type, message.data, message.lastEventId);
    };
    for (const type of ["delta", "queued", "done"]) es.addEventListener(type, onMessage);
    es.addEventListener("error", (event) => {
      if (!current()) return;
      // A server `event: error` and a connection error arrive here alike; only the first has data.
      if (event instanceof MessageEvent && event.data) onMessage(event);
      else this.dropped(turnId, stream);
    });
    es.addEventListener("open", () => {
      if (!current()) return;
      stream.failures = 0;
      if (this.offlineShown) this.online();
    });
  }

  /** One SSE message of the turn's stream (a malformed one is skipped). */
  receive(turnId, stream, type, raw, lastEventId) {
    let data;
    try {
      data = JSON.parse(raw);
    } catch {
      return;
    }
    const event = messageEvent(turnId, type, data, lastEventId);
    if (event) this.deliver(turnId, stream, event);
  }

  deliver(turnId, stream, event) {
    if (event.type === "undelivered") {
      // Not the turn's outcome: this delivery failed. Read it again shortly, after what we have.
      this.close(turnId);
      if (event.code === "bad_request" || event.code === "not_found") {
        this.hooks.dispatch(event); // nothing to reopen
      } else {
        this.hooks.dispatch({ type: "notice", message: event.message || "Streaming this reply failed; retrying." });
        this.reopenLater(turnId, stream.lastSeq, stream.failures + 1);
      }
      return;
    }
    if (event.seq > stream.lastSeq) stream.lastSeq = event.seq;
    if (event.type === "done" || event.type === "failed") this.close(turnId);
    this.hooks.dispatch(event);
  }

  dropped(turnId, stream) {
    this.showOffline("Connection lost; reconnecting…");
    if (stream.es.readyState === EventSource.CLOSED || stream.pinned) {
      stream.es.close();
      this.reopenLater(turnId, stream.lastSeq, stream.failures + 1);
    }
    // Otherwise EventSource reconnects by itself, sending Last-Event-ID.
  }

  reopenLater(turnId, after, failures) {
    const waiting = { es: { close() {} }, pinned: true, failures, timer: 0, lastSeq: after };
    this.streams.set(turnId, waiting);
    waiting.timer = setTimeout(() => {
      if (this.streams.get(turnId) === waiting) this.open(turnId, after, failures);
    }, retryDelay(failures));
  }

  close(turnId) {
    const stream = this.streams.get(turnId);
    if (!stream) return;
    clearTimeout(stream.timer);
    stream.es.close();
    this.streams.delete(turnId);
  }

  /** A move over HTTP. The result arrives as `accepted` or `rejected` with the same ref. */
  move(ref, move, { text, turnId } = {}) {
    if (move === "cancel") {
      api(`${this.base}/turns/${encodeURIComponent(turnId)}/cancel`, { method: "POST" }).then(
        () => {
          if (this.stopped) return;
          if (this.offlineShown) this.online();
          this.hooks.dispatch({ type: "accepted", ref });
        },
        (err) => this.refused(ref, err),
      );
    } else {
      this.moveAndFollow(ref, move, move === "answer" ? { text } : undefined);
    }
    return true;
  }

  /** The move's response is its turn's stream: `accepted`, then the turn's events. */
  async moveAndFollow(ref, move, body) {
    const controller = new AbortController();
    let events;
    try {
      const response = await apiStream(`${this.base}${PATHS[move]}`, { body, signal: controller.signal });
      events = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
    } catch (err) {
      this.refused(ref, err);
      return;
    }
    let turnId = null;
    let stream = null;
    try {
      for (;;) {
        const { value: message, done } = await events.read();
        if (done || this.stopped) break;
        if (message.event === "accepted") {
          const started = JSON.parse(message.data);
          turnId = started.turn_id;
          if (this.offlineShown) this.online();
          this.hooks.dispatch({ type: "accepted", ref, turnId, kind: started.kind, candidateTurnId: started.candidate_turn_id });
          this.hooks.dispatch({ type: "turn", turnId, kind: started.kind, after: 0 });
          this.close(turnId);
          // Closing it (the turn's end, a reload, the page leaving) ends this response.
          stream = { es: { close: () => controller.abort() }, pinned: true, failures: 0, timer: 0, lastSeq: 0 };
          this.streams.set(turnId, stream);
        } else if (stream && this.streams.get(turnId) === stream) {
          this.receive(turnId, stream, message.event, message.data, message.id);
        } else {
          break; // this turn is read elsewhere now
        }
      }
    } catch {
      // The response broke (or was closed here): what is left of the turn is read below.
    }
    controller.abort();
    if (this.stopped) return;
    if (turnId === null) {
      // A 202 came, so the move was made, but not what it started: accepted without ids, and
      // the transcript, read for the unnamed answer (session.js), names it and its turn.
      this.hooks.dispatch({ type: "accepted", ref });
    } else if (this.streams.get(turnId) === stream) {
      this.dropped(turnId, stream); // pinned: read the rest with ?after=
    }
  }

  refused(ref, err) {
    if (this.stopped) return;
    if (err.status === 0) this.showOffline("Cannot reach the server");
    this.hooks.dispatch({ type: "rejected", ref, error: { code: err.code, message: err.message } });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const id of [...this.streams.keys()]) this.close(id);
  }
}
