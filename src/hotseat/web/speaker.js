// The interviewer's voice: a turn's speech played on Web Audio as it arrives (docs/speech.md).
//
// On the page's WebSocket (sayOnSocket) the speech comes in binary frames, each headed by its
// sentence's seq range; the last seq of every sentence played to its end is kept per turn in
// sessionStorage, so a reload can ask for the speech after it. Over HTTP (sayOverHttp) it is the WAV
// of GET .../speech, read with fetch: it says nothing of seqs. An <audio> element waits for more of
// such a stream than one sentence before it plays, so the PCM is queued piece by piece on Web Audio,
// each piece starting where the last one ends.

import { $ } from "./ui.js";

const mute = $("#voice-out"); // its data-playing says whether the voice is heard now

let audioContext = null;
let playback = null; // {controller, sources, at, turnId, ws (null: over HTTP)}

// Turns whose voice was begun in this tab -> the last seq of the last sentence played to its end
// (0: none yet). A reload resumes after it, on the WebSocket; over SSE it does not play them again.
const heard = new Map(readHeard());

function readHeard() {
  try {
    const entries = JSON.parse(sessionStorage.getItem("hotseat.voice.heard") || "[]");
    return Array.isArray(entries) ? entries : [];
  } catch {
    return [];
  }
}

function remember(turnId, seq) {
  heard.delete(turnId); // the newest last, so the oldest are the ones forgotten
  heard.set(turnId, seq);
  try {
    sessionStorage.setItem("hotseat.voice.heard", JSON.stringify([...heard].slice(-50)));
  } catch {
    // storage disabled: a reload may play a turn again
  }
}

/** The seq after which a turn's voice resumes; undefined if this tab never began it. */
export function heardUpTo(turnId) {
  return heard.get(turnId);
}

/** The turn being said now, or undefined. */
export function speaking() {
  return playback?.turnId;
}

/** Browsers start audio only after a gesture: call on the first one. */
export function readyAudio() {
  context();
}

/** Ask the socket for a turn's speech after seq ``after``; its binary frames go to onSpeechFrame. */
export function sayOnSocket(ws, turnId, after) {
  // A `speech` frame stops whatever this socket was saying (docs/protocol.md): no speech_stop first.
  stopPlayback({ tellSocket: playback?.ws !== ws });
  if (!heard.has(turnId)) remember(turnId, 0);
  playback = { controller: new AbortController(), sources: new Set(), at: 0, turnId, ws };
  ws.send(JSON.stringify({ type: "speech", turn_id: turnId, after }));
}

/** Play a turn's speech from the HTTP route (a WAV streamed sentence by sentence). */
export function sayOverHttp(turnId, url) {
  stopPlayback();
  if (!heard.has(turnId)) remember(turnId, 0);
  play(turnId, url);
}

const HEADER_TEXT = new TextDecoder();

/** A binary frame of the socket: 4 bytes of header length, the JSON header, then 16-bit PCM. */
export function onSpeechFrame(buffer) {
  const current = playback;
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 4) return;
  const length = new DataView(buffer).getUint32(0);
  let header;
  try {
    header = JSON.parse(HEADER_TEXT.decode(new Uint8Array(buffer, 4, length)));
  } catch {
    return;
  }
  // Speech of a turn no longer being played (stopped, muted, another turn began) is dropped.
  if (!current?.ws || current.turnId !== header.turn_id) return;
  const bytes = buffer.byteLength - 4 - length;
  // One copy, of whole samples: Int16Array needs an even offset and length.
  const pcm = new Uint8Array(buffer.slice(4 + length, 4 + length + bytes - (bytes % 2)));
  if (pcm.length >= 2) queue(current, pcm, header.rate, header.end ? header.last : 0);
}

export function stopPlayback({ tellSocket = true } = {}) {
  if (playback) {
    playback.controller.abort();
    for (const source of playback.sources) source.stop();
    if (tellSocket && playback.ws?.readyState === WebSocket.OPEN) playback.ws.send(JSON.stringify({ type: "speech_stop" }));
    playback = null;
  }
  mute.dataset.playing = "false";
}

function context() {
  audioContext ??= new AudioContext();
  if (audioContext.state === "suspended") audioContext.resume().catch(() => {});
  return audioContext;
}

async function play(turnId, url) {
  const current = { controller: new AbortController(), sources: new Set(), at: 0, turnId, ws: null };
  playback = current;
  let rate = 0;
  let pending = new Uint8Array(0);
  try {
    const response = await fetch(url, { signal: current.controller.signal, credentials: "same-origin" });
    if (!response.ok || response.status === 204 || !response.body) return;
    const reader = response.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done || playback !== current) break;
      pending = joined(pending, value);
      if (!rate) {
        if (pending.length < 44) continue;
        rate = new DataView(pending.buffer).getUint32(24, true); // the fmt chunk's sample rate
        pending = pending.slice(44);
      }
      const whole = pending.length - (pending.length % 2);
      if (whole >= rate / 5) { // at least 0.1 s per piece
        queue(current, pending.slice(0, whole), rate);
        pending = pending.slice(whole);
      }
    }
  } catch {
    return; // stopped (aborted), or the stream broke: the text is there
  }
  if (playback === current && pending.length >= 2) queue(current, pending.slice(0, pending.length - (pending.length % 2)), rate);
}

function joined(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Play 16-bit PCM after what is queued; once a sentence's last part has played, remember its seq. */
function queue(current, bytes, rate, sentenceEnd = 0) {
  const ctx = context();
  const samples = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
  const buffer = ctx.createBuffer(1, samples.length, rate);
  const channel = buffer.getChannelData(0);
  for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(ctx.destination);
  const at = Math.max(ctx.currentTime + 0.05, current.at);
  source.start(at);
  current.at = at + buffer.duration;
  current.sources.add(source);
  mute.dataset.playing = "true";
  source.addEventListener("ended", () => {
    current.sources.delete(source);
    if (sentenceEnd && playback === current) remember(current.turnId, Math.max(sentenceEnd, heard.get(current.turnId) ?? 0));
    if (playback === current && !current.sources.size) mute.dataset.playing = "false";
  });
}

