// One open interview session: its transport (link-ws.js or link-sse.js), its state (state.js),
// and the effects a transition needs. It draws nothing itself: `ui.render` does (interview.js).
//
//   link (frames, responses) --event--> reduce(state, event) --state--> ui.render
//   the page's moves ----------event--/         \--> effects: speak a new turn, open the report
//
// Every event goes through `dispatch`, which reduces, renders, and runs the effects. Once the
// session is closed, whatever its link or a read still in flight delivers is dropped.

import { api } from "./api.js";
import { SseLink } from "./link-sse.js";
import { WsLink } from "./link-ws.js";
import { initialState, reduce, reportReady, unfollowed } from "./state.js";
import { follower } from "./ui.js";
import * as voice from "./voice.js";

// A turn the transcript lists as streaming normally gets a `turn` frame on the socket. If it
// ended in the instant between the transcript read and the socket's subscription, no frame
// comes: look again after these delays and take the finished text from the transcript.
const RECHECK_DELAYS_MS = [1000, 3000, 8000];

export class Session {
  /**
   * ui.render(state, shown): draw `state` (`shown`: the state drawn before, or null).
   * ui.reportReady(): the report this page asked for is written. ui.gone(message): the session
   * does not exist. ui.fellBack(): the WebSocket could not connect, SSE carries on.
   * ui.readingReport(): the report is open (a (re)load must not scroll to the end).
   */
  constructor(id, transport, ui) {
    this.id = id;
    this.ui = ui;
    this.state = initialState(id, transport);
    this.shown = null; // the state last rendered
    this.closed = false;
    this.refs = 0;
    this.rechecks = 0;
    this.recheckTimer = 0;
    this.link = this.connect(transport);
  }

  /** Draw the empty session and open its link. */
  start() {
    this.render();
    this.link.start();
  }

  connect(transport) {
    const dispatch = (event) => this.dispatch(event);
    const opened = () => this.load();
    if (transport === "sse") return new SseLink(this.id, { dispatch, opened });
    return new WsLink(this.id, {
      dispatch, opened, gone: (message) => this.ui.gone(message), fallBack: () => this.fallBack(),
      // Audio on the socket: the interviewer's speech, and the transcripts of recordings.
      speech: (data) => voice.onSpeechFrame(data),
      audio: (frame) => voice.takeAudioFrame(frame),
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
      // A turn this page did not start (another tab's move): the move itself is in the transcript.
      const stranger = event.type === "turn" && !before.turns.some((t) => t.id === event.turnId);
      if (stranger && before.ready) this.load({ refresh: true });
      // `accepted` names the candidate's turn; were one still unnamed, the transcript names it.
      if (event.type === "accepted" && state.turns.some((t) => t.local)) this.load({ refresh: true });
    }
    if (event.type === "sent") follower.toEnd();
    if (reportReady(state)) {
      this.dispatch({ type: "reportShown" });
      this.ui.reportReady();
    }
  }

  render() {
    const shown = this.shown;
    this.shown = this.state;
    this.ui.render(this.state, shown);
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
      if (err.status === 404) this.ui.gone("That interview no longer exists; start a new one.");
      else if (!refresh) {
        this.dispatch({ type: "notice", message: `Could not load the transcript: ${err.message}` });
        link.loadFailed();
      }
      return;
    }
    if (stale()) return;
    this.dispatch({ type: "transcript", data, refresh });
    if (!refresh) voice.sessionLoaded(this.id, data);
    if (this.state.transport === "sse") {
      link.loaded({ refresh });
      for (const turn of unfollowed(this.state)) link.follow(turn.id, turn.kind);
    }
    if (!refresh && !this.ui.readingReport()) follower.toEnd();
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
    this.ui.fellBack();
    this.link.start();
  }

  /** Send a move; false when it could not be sent (nothing changes then). */
  move(name, details = {}) {
    if (this.state.transport === "ws" && !this.link.open) {
      this.dispatch({ type: "notice", message: "Not connected to the server; reconnecting. Try again in a moment." });
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
