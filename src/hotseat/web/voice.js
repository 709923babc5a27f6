// Voice on the page: answer by microphone, hear the interviewer (docs/speech.md).
//
// Listening. The microphone button records with MediaRecorder, in one of two modes:
//   - push to talk: hold the button (mouse, touch, or Space/Enter on the focused button);
//   - hands-free: press once to listen; speech is detected by its level (an AnalyserNode) and a
//     recording ends after PAUSE_MS of quiet, so a pause to think does not cut an answer.
// On the page's WebSocket a recording streams as it is made (audio_start with partial: true, a binary
// frame per MediaRecorder chunk, audio_end): the words heard so far show beside the microphone
// (transcript_partial), and the transcript comes back as a `transcript` frame. Without a socket
// (SSE), the finished recording goes to POST /api/sessions/ID/transcripts. Either way the words land
// in the answer box, where the candidate corrects them and sends them as a typed answer. Nothing is
// sent unseen.
//
// Speaking. A new interviewer turn is spoken sentence by sentence as it is written (speaker.js plays
// it): on the page's WebSocket with a `speech` frame, resumed after a reload from the sentence after
// the last one played, for the turn still streaming or else the last turn; over SSE from GET
// /api/sessions/ID/turns/TID/speech, which says nothing of seqs, so a turn begun there is not played
// again after a reload. Starting to speak (barge-in), Stop, or Mute stops the playback; barge-in and
// Stop also stop the turn, as Stop does for text.
//
// Voice is offered only where the server can hear and speak the session's language (GET
// /api/speech); otherwise the page says so, and typing works as always.

import { ApiError, api } from "./api.js";
import { heardUpTo, readyAudio, sayOnSocket, sayOverHttp, speaking, stopPlayback } from "./speaker.js";
import { $, announce, showNotice } from "./ui.js";

export { onSpeechFrame, stopPlayback } from "./speaker.js";

const els = {
  bar: $("#voice"),
  mic: $("#mic"),
  mode: $("#mic-mode"),
  mute: $("#voice-out"),
  level: $("#level"),
  note: $("#voice-note"),
  answer: $("#answer"),
};

const PAUSE_MS = 1200; // hands-free: this much quiet after speech ends a recording
const SPEECH_LEVEL = 0.02; // RMS above this is speech (a quiet room is about 0.002)
const MIN_SPEECH_MS = 250; // shorter bursts (a cough, a click) are not an answer

// stopTurn: Stop's action; streaming: the interviewer turn being written ({id, kind}), or null;
// socket: the page's WebSocket, or null (SSE).
const hooks = { stopTurn: () => {}, streaming: () => null, socket: () => null };

let sessionId = null;
let loadedFor = null; // the session whose transcript set up voice: a reconnect's load changes nothing
let canListen = false;
let canSpeak = false;
let stream = null; // the microphone
let meter = null; // {context, analyser, frame, samples (reused every frame)}
let recorder = null;
let chunks = [];
let live = null; // the recording streaming on the socket: {ref, ws, open (false once cancelled)}
let liveRefs = 0;
const pending = new Set(); // refs of recordings on the socket whose transcript has not come back
const CHUNK_MS = 1000; // MediaRecorder's timeslice: how often a recording's bytes go up
const MAX_FRAME = 60 * 1024; // under the server's WebSocket frame limit (64 KiB by default)
let handsFree = false;
let heardAt = 0; // hands-free: when speech started, 0 while quiet
let quietAt = 0; // hands-free: when the last speech ended
let muted = stored("hotseat.voice.muted") === "1";

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage disabled
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // storage disabled: the choice lasts for this page
  }
}

function openSocket() {
  const ws = hooks.socket();
  return ws && ws.readyState === WebSocket.OPEN ? ws : null;
}

export function configure(options) {
  Object.assign(hooks, options);
}

let speechInfo = null; // GET /api/speech, read once: the server's voices do not change while it runs

/** A session was opened (or closed, with null); voice waits for its transcript (`sessionLoaded`). */
export function setSession(id) {
  stopListening();
  stopPlayback();
  sessionId = id;
  loadedFor = null;
  canListen = canSpeak = false;
  render();
}

/** The session's first transcript is in: offer voice if its language can be heard and spoken, and
 * go on saying its last turn. The page's own read, so that opening a session reads it once. */
export async function sessionLoaded(id, session) {
  if (sessionId !== id || loadedFor === id) return;
  loadedFor = id;
  try {
    speechInfo ??= api("/api/speech");
    const speech = await speechInfo;
    if (sessionId !== id) return;
    const handles = (side) => side.languages === null || side.languages.includes(session.language);
    const recording = Boolean(navigator.mediaDevices?.getUserMedia && window.MediaRecorder);
    canListen = recording && handles(speech.stt);
    canSpeak = handles(speech.tts);
    els.note.textContent = canListen || canSpeak ? "" : "Voice is not available in this interview's language on this server; type your answers.";
  } catch {
    speechInfo = null; // asked again for the next session
    canListen = canSpeak = false;
  }
  render();
  const current = hooks.streaming(); // the opening turn is being written
  if (current) speakTurn(current.id, current.kind);
  else if (canSpeak) resumeLast(id, session.turns.at(-1));
}

/** After a reload: the session's last turn, if its voice was begun here and not played to its end. */
async function resumeLast(id, last) {
  const ws = hooks.socket();
  if (!ws) return;
  if (ws.readyState === WebSocket.CONNECTING) await new Promise((ok) => ws.addEventListener("open", ok, { once: true }));
  if (sessionId !== id || !last || last.role !== "interviewer" || heardUpTo(last.id) === undefined) return;
  speakTurn(last.id, last.kind); // nothing is sent back but speech_end if it was all heard
}

/** An interviewer turn started streaming (or is resumed): say it as it is written. */
export function speakTurn(turnId, kind) {
  if (!sessionId || !canSpeak || muted || kind === "report" || speaking() === turnId) return;
  const after = heardUpTo(turnId);
  const ws = openSocket();
  if (after !== undefined && !ws) return; // begun before; without seqs it would start over
  if (ws) sayOnSocket(ws, turnId, after ?? 0);
  else sayOverHttp(turnId, `/api/sessions/${encodeURIComponent(sessionId)}/turns/${encodeURIComponent(turnId)}/speech`);
}

function render() {
  els.bar.hidden = !sessionId || !(canListen || canSpeak || els.note.textContent);
  els.mic.hidden = els.mode.hidden = els.level.hidden = !canListen;
  els.mute.hidden = !canSpeak;
  els.mute.setAttribute("aria-pressed", String(muted));
  els.mute.textContent = muted ? "Voice off" : "Voice on";
  els.mic.setAttribute("aria-pressed", String(Boolean(recorder) || handsFree));
  els.mic.textContent = handsFree ? "Listening… (press to stop)" : recorder ? "Recording… release to stop" : "Hold to speak";
  if (els.mode.value === "hands-free" && !handsFree) els.mic.textContent = "Start listening";
}

// -- the microphone -------------------------------------------------------------------------------------

async function openMicrophone() {
  if (stream) return true;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
  } catch {
    showNotice("The microphone is not available: allow it in the browser, or type your answer.");
    return false;
  }
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(stream).connect(analyser);
  meter = { context, analyser, frame: 0, samples: new Float32Array(analyser.fftSize) };
  measure();
  return true;
}

function closeMicrophone() {
  if (meter) {
    cancelAnimationFrame(meter.frame);
    meter.context.close();
    meter = null;
  }
  stream?.getTracks().forEach((track) => track.stop());
  stream = null;
  els.level.value = 0;
}

/** The level meter, and hands-free's speech detection, once per frame. */
function measure() {
  if (!meter) return;
  const { samples } = meter;
  meter.analyser.getFloatTimeDomainData(samples);
  const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
  els.level.value = Math.min(1, rms * 10);
  if (handsFree) detect(rms, performance.now());
  meter.frame = requestAnimationFrame(measure);
}

function detect(rms, now) {
  if (rms > SPEECH_LEVEL) {
    quietAt = 0;
    if (!heardAt) {
      heardAt = now;
      bargeIn();
    }
  } else if (heardAt && !quietAt) {
    quietAt = now;
  }
  if (heardAt && quietAt && now - quietAt > PAUSE_MS) {
    const spoke = quietAt - heardAt >= MIN_SPEECH_MS;
    heardAt = quietAt = 0;
    if (spoke) finishRecording().then(startRecording);
    else restartRecording();
  }
}

function startRecording() {
  if (!stream || recorder) return;
  const type = MediaRecorder.isTypeSupported("audio/webm;codecs=opus") ? "audio/webm;codecs=opus" : "";
  recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  chunks = [];
  const ws = openSocket();
  const streaming = ws ? { ref: `r${++liveRefs}`, ws, open: true } : null;
  live = streaming;
  if (streaming) {
    pending.add(streaming.ref);
    ws.send(JSON.stringify({ type: "audio_start", ref: streaming.ref, partial: true }));
  }
  recorder.addEventListener("dataavailable", (event) => {
    chunks.push(event.data);
    // The last chunk comes after stop(): sent for a finished recording, not for a cancelled one.
    if (streaming?.open && streaming.ws.readyState === WebSocket.OPEN) {
      // Sends keep their order, Blobs included; each part fits the server's frame limit.
      for (let at = 0; at < event.data.size; at += MAX_FRAME) streaming.ws.send(event.data.slice(at, at + MAX_FRAME));
    }
  });
  recorder.start(streaming ? CHUNK_MS : undefined);
  render();
}

/**
 * A socket frame, if it is about a recording of this page: its partial or whole transcript, or its
 * refusal (an error whose `ref` is a recording's: they start with "r", the moves' with "m").
 * Returns whether it was one (link-ws.js then gives it to nobody else).
 */
export function takeAudioFrame(frame) {
  const recording = typeof frame.ref === "string" && frame.ref.startsWith("r");
  if (frame.type !== "transcript" && frame.type !== "transcript_partial" && !(frame.type === "error" && recording)) {
    return false;
  }
  onAudioFrame(frame);
  return true;
}

/** A frame about a recording on the socket (it has a `ref`): its partial or whole transcript, or an error. */
function onAudioFrame(frame) {
  if (frame.type === "transcript_partial") {
    if (live?.ref === frame.ref) els.note.textContent = `Hearing: …${frame.text}`;
    return;
  }
  if (!pending.delete(frame.ref)) return; // cancelled meanwhile
  if (!live || live.ref === frame.ref) els.note.textContent = "";
  if (frame.type === "transcript") heardText(frame.text);
  else if (frame.type === "error") showNotice(frame.message || "The recording could not be transcribed; type your answer.");
}

/** The recording streaming on the socket is dropped (not an answer): tell the server. */
function cancelLive() {
  if (live) {
    live.open = false;
    pending.delete(live.ref);
    if (live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify({ type: "audio_cancel" }));
    live = null;
  }
  els.note.textContent = "";
}

/** Stop the recorder; resolves with the recording (a Blob), or null if nothing was recorded. */
function finishRecording() {
  const current = recorder;
  recorder = null;
  render();
  if (!current) return Promise.resolve(null);
  const streaming = live;
  live = null;
  return new Promise((resolve) => {
    current.addEventListener("stop", () => {
      const blob = new Blob(chunks, { type: current.mimeType || "audio/webm" });
      chunks = [];
      resolve(blob.size ? blob : null);
      if (!streaming) transcribe(blob);
      else if (!pending.has(streaming.ref)) return; // refused while it was recorded: the error is shown
      else if (streaming.ws.readyState !== WebSocket.OPEN) {
        pending.delete(streaming.ref);
        transcribe(blob); // the socket went away: over HTTP instead
      } else {
        streaming.ws.send(JSON.stringify({ type: "audio_end" }));
        // If the socket goes before the transcript comes, ask over HTTP.
        streaming.ws.addEventListener("close", () => {
          if (pending.delete(streaming.ref)) transcribe(blob);
        }, { once: true });
      }
    }, { once: true });
    current.stop();
  });
}

function restartRecording() {
  const current = recorder;
  recorder = null;
  cancelLive();
  current?.stop();
  chunks = [];
  startRecording();
}

/** The candidate started talking: the interviewer stops, as Stop would stop it. */
function bargeIn() {
  stopPlayback();
  if (hooks.streaming()) hooks.stopTurn();
}

async function transcribe(blob) {
  if (!blob.size || !sessionId) return;
  const body = new FormData();
  body.append("audio", blob, "answer.webm");
  els.mic.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}/transcripts`, {
      method: "POST", body, credentials: "same-origin", headers: { Accept: "application/json" },
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(data?.error?.message || `The server answered ${response.status}.`);
    heardText(data.transcript);
  } catch (err) {
    showNotice(err instanceof ApiError ? err.message : "The recording could not be sent; type your answer.");
  } finally {
    els.mic.removeAttribute("aria-busy");
  }
}

/** A recording's transcript: added to the answer box, to be corrected and sent. */
function heardText(text) {
  const before = els.answer.value.trim();
  els.answer.value = before ? `${before} ${text}` : text;
  els.answer.dispatchEvent(new Event("input"));
  announce(`Heard: ${text}. Correct it if needed, then send.`);
  if (!handsFree) els.answer.focus();
}

async function press() {
  if (els.mode.value === "hands-free") {
    if (handsFree) {
      stopListening();
      return;
    }
    if (!(await openMicrophone())) return;
    handsFree = true;
    heardAt = quietAt = 0;
    startRecording();
    return;
  }
  if (recorder || !(await openMicrophone())) return;
  bargeIn();
  startRecording();
}

function release() {
  if (els.mode.value === "hands-free" || !recorder) return;
  finishRecording().then(closeMicrophone);
}

function stopListening() {
  handsFree = false;
  const current = recorder;
  recorder = null;
  cancelLive();
  current?.stop(); // hands-free's unfinished recording is dropped
  chunks = [];
  closeMicrophone();
  render();
}

els.mic.addEventListener("pointerdown", (event) => {
  if (event.button === 0) press();
});
els.mic.addEventListener("pointerup", release);
els.mic.addEventListener("pointerleave", release);
els.mic.addEventListener("keydown", (event) => {
  if ((event.key === " " || event.key === "Enter") && !event.repeat) {
    event.preventDefault();
    press();
  }
});
els.mic.addEventListener("keyup", (event) => {
  if (event.key === " " || event.key === "Enter") release();
});
els.mode.addEventListener("change", () => {
  stopListening();
  store("hotseat.voice.mode", els.mode.value);
});
els.mute.addEventListener("click", () => {
  muted = !muted;
  store("hotseat.voice.muted", muted ? "1" : "0");
  if (muted) stopPlayback();
  render();
});
// Browsers start audio only after a gesture: the first press anywhere readies it.
document.addEventListener("pointerdown", () => readyAudio(), { once: true });
els.mode.value = stored("hotseat.voice.mode") === "hands-free" ? "hands-free" : "push";
