// hotseat's page: vanilla ES modules, no build step, no inline script (the server's CSP forbids it).
//
// Routes live in the location hash:
//   (empty)                        the start screen
//   #history                       past interviews
//   #session=ID                    an interview (live, or finished and read back)
//   #session=ID&view=report        the same, with its report above the transcript
//
// Modules: api.js (HTTP, CV upload), markdown.js (streaming Markdown, sanitising), ui.js
// (shared bits), start.js, history.js, interview.js (the interview on the page), session.js (one
// open interview), state.js (its reducer), link-ws.js and link-sse.js (the transports), view.js
// (turns and controls drawn from a state), backoff.js (reconnect delays), report.js, progress.js (its
// progress card), voice.js (the microphone) and speaker.js (the interviewer's voice).

import { api } from "./api.js";
import * as pastInterviews from "./history.js";
import * as interview from "./interview.js";
import * as start from "./start.js";
import { $, clearNotice, setConn, showNotice } from "./ui.js";

const TRANSPORT_KEY = "hotseat.transport";

let packs = [];
let packsLoading = null;

// -- settings -------------------------------------------------------------------------------------

function storedTransport() {
  try {
    return localStorage.getItem(TRANSPORT_KEY) === "sse" ? "sse" : "ws";
  } catch {
    return "ws"; // storage disabled
  }
}

function saveTransport(value) {
  try {
    localStorage.setItem(TRANSPORT_KEY, value);
  } catch {
    // storage disabled: the choice lasts for this page only
  }
}

let transport = storedTransport();

function renderTransport() {
  for (const input of document.querySelectorAll("input[name=transport]")) input.checked = input.value === transport;
  const active = interview.currentTransport();
  const note = $("#transport-note");
  if (active && active !== transport) {
    note.textContent = "This interview fell back to Server-Sent Events because the WebSocket could not connect.";
  } else {
    note.textContent = transport === "sse"
      ? "Replies stream over Server-Sent Events; your moves are sent over HTTP."
      : "One WebSocket carries your moves and the replies.";
  }
}

// -- packs --------------------------------------------------------------------------------------------

function loadPacks() {
  if (!packsLoading) {
    packsLoading = api("/api/packs")
      .then((list) => {
        packs = list;
        start.setPacks(list);
        return list;
      })
      .catch((err) => {
        packsLoading = null;
        start.packsFailed(err.message);
        return [];
      });
  }
  return packsLoading;
}

function packTitle(id) {
  return packs.find((pack) => pack.id === id)?.title || id;
}

// -- routing ----------------------------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.slice(1);
  if (raw === "history") return { name: "history" };
  const params = new URLSearchParams(raw);
  const id = params.get("session");
  if (id) return { name: "session", id, view: params.get("view") === "report" ? "report" : "transcript" };
  return { name: "start" };
}

function route() {
  const where = parseHash();
  document.body.dataset.route = where.name;
  $("#nav-history").toggleAttribute("aria-current", where.name === "history");
  if (where.name === "session") {
    start.hide();
    pastInterviews.hide();
    interview.openSession(where.id, { view: where.view });
    renderTransport();
    loadPacks().then(() => interview.refreshTitle());
    return;
  }
  interview.closeSession();
  setConn("idle", "Not connected");
  if (where.name === "history") {
    start.hide();
    pastInterviews.show();
  } else {
    pastInterviews.hide();
    start.show();
    loadPacks();
  }
  renderTransport();
  $("#main").focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

// -- wiring ---------------------------------------------------------------------------------------------------

interview.configure({
  packTitle,
  preferredTransport: () => transport,
  forget: (message) => {
    window.history.replaceState(null, "", location.pathname + location.search);
    route();
    showNotice(message);
  },
  transportChanged: () => renderTransport(),
});

// Not awaited: the start page works without it; only the model notice waits for it.
api("/api/health").then(start.showModel, () => {});

start.configure({
  started: (created) => {
    location.hash = `session=${encodeURIComponent(created.id)}`; // hashchange opens it
  },
});

for (const input of document.querySelectorAll("input[name=transport]")) {
  input.addEventListener("change", () => {
    if (!input.checked) return;
    transport = input.value;
    saveTransport(transport);
    renderTransport();
    interview.reopen();
  });
}

$("#notice-close").addEventListener("click", clearNotice);
window.addEventListener("hashchange", route);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    const settings = $("#settings");
    if (settings.open) {
      settings.open = false;
      settings.querySelector("summary").focus();
    }
  }
});
document.addEventListener("click", (event) => {
  const settings = $("#settings");
  if (settings.open && !settings.contains(event.target)) settings.open = false;
});

route();
