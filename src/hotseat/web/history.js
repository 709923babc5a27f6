// Past interviews: GET /api/sessions lists this browser's own sessions (the server scopes them
// by its owner cookie), newest first: [{id, pack, title, status, created_at, updated_at}].

import { api, parseTime } from "./api.js";
import { $, h } from "./ui.js";

const els = { view: $("#history"), body: $("#history-body") };

let loads = 0;

export function show() {
  els.view.hidden = false;
  document.title = "Past interviews · hotseat";
  load();
}

export function hide() {
  els.view.hidden = true;
  loads += 1;
}

async function load() {
  const mine = ++loads;
  els.body.replaceChildren(h("p.muted", { text: "Loading your interviews…" }));
  let sessions;
  try {
    sessions = await api("/api/sessions");
  } catch (err) {
    if (mine !== loads) return;
    const text = err.status === 404
      ? "This server does not list past interviews yet."
      : `Could not load your interviews: ${err.message}`;
    els.body.replaceChildren(
      h("p.report-error", { text }),
      err.status === 404 ? null : h("button", { type: "button", text: "Try again", onclick: load }),
    );
    return;
  }
  if (mine !== loads) return;
  if (!sessions.length) {
    els.body.replaceChildren(
      h("div.empty", {}, h("p", { text: "No interviews yet." }), h("a.button.primary", { href: "#", text: "Start your first interview" })),
    );
    return;
  }
  els.body.replaceChildren(h("ul.session-list", {}, sessions.map(item)));
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const STEPS = [
  [60, "second"],
  [60, "minute"],
  [24, "hour"],
  [7, "day"],
  [4.35, "week"],
  [12, "month"],
  [Infinity, "year"],
];

function ago(date) {
  let value = (date.getTime() - Date.now()) / 1000;
  for (const [size, unit] of STEPS) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return date.toLocaleDateString();
}

function item(session) {
  const finished = session.status === "finished";
  const created = parseTime(session.created_at);
  const updated = parseTime(session.updated_at);
  const href = `#session=${encodeURIComponent(session.id)}${finished ? "&view=report" : ""}`;
  const when = created
    ? h("time", { datetime: created.toISOString(), title: created.toLocaleString(), text: `Started ${ago(created)}` })
    : null;
  return h(
    "li",
    {},
    h(
      "a.session-item",
      { href, dataset: { sessionId: session.id, status: session.status } },
      h("span.session-title", { text: session.title || session.pack }),
      h("span.session-meta.muted", {}, when, updated && finished ? ` · finished ${ago(updated)}` : ""),
      h("span", { class: `badge status-${session.status}`, text: finished ? "Finished" : "In progress" }),
    ),
  );
}
