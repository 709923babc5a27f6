// The report panel: GET /api/sessions/ID/report, polled every 2 s while it is `pending`.
//
// Per question: an inline SVG bar chart (one bar per assessment point, scored 1-5), then each
// point with its verdict, every quote from the candidate's answers that supports it (each with a
// link that scrolls to, and highlights, the answer it came from), what a strong answer covers and
// the suggestion. Strengths and priorities come first; questions that were skipped, not answered
// or could not be scored say why. Then the claim ledger: each achievement line of the CV and what
// the interview made of it.

import { api, parseTime } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { progressCard } from "./progress.js";
import { h, plural, svg, VERDICT_TEXT } from "./ui.js";

const POLL_MS = 2000;

const STATUS_TEXT = {
  skipped: "You skipped this question, so it was not scored.",
  not_answered: "This question was asked but not answered before the interview ended, so it was not scored.",
  pending: "This answer is still being scored…",
  not_assessed: "This answer could not be scored automatically.",
};

// The report's claim states, in words (the same as the Markdown export's; verdicts: ui.js).
const CLAIM_TEXT = {
  confirmed: "confirmed",
  contradicted: "contradicted",
  probed: "asked, not confirmed",
  never_asked: "never asked",
};

const ANALYSER_TEXT = {
  matcher: "Verdicts from matching your words against each point.",
  judge: "Verdicts from the model judge, checked against your words.",
};

const STATUS_BADGE = {
  skipped: "Skipped",
  not_answered: "Not answered",
  pending: "Scoring…",
  not_assessed: "Not scored",
};

export class ReportView {
  constructor(container, sessionId, { reveal }) {
    this.container = container;
    this.sessionId = sessionId;
    this.reveal = reveal;
    this.timer = 0;
    this.controller = null;
    this.destroyed = false;
    this.container.replaceChildren(h("p.muted.report-loading", { text: "Loading your report…" }));
  }

  url(path = "") {
    return `/api/sessions/${encodeURIComponent(this.sessionId)}${path}`;
  }

  async load() {
    clearTimeout(this.timer);
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    let data;
    try {
      data = await api(this.url("/report"), { signal: controller.signal });
    } catch (err) {
      if (this.destroyed || controller.signal.aborted) return;
      this.container.replaceChildren(
        h("p.report-error", { role: "alert", text: `Could not load the report: ${err.message}` }),
        h("button", { type: "button", text: "Try again", onclick: () => this.load() }),
      );
      return;
    }
    if (this.destroyed) return;
    this.render(data);
    if (data.status === "pending") this.timer = setTimeout(() => this.load(), POLL_MS);
  }

  destroy() {
    this.destroyed = true;
    clearTimeout(this.timer);
    this.controller?.abort();
  }

  render(report) {
    const scored = report.questions.filter((q) => q.assessment?.status === "complete");
    const average = scored.length
      ? scored.reduce((sum, q) => sum + q.assessment.average, 0) / scored.length
      : null;
    const created = parseTime(report.created_at);

    const head = h(
      "header.report-head",
      {},
      h(
        "div",
        {},
        h("h2", { id: "report-title", text: "Your report" }),
        h("p.muted", {
          text: [
            created ? created.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : null,
            plural(report.questions.length, "question") + " asked",
          ]
            .filter(Boolean)
            .join(" · "),
        }),
      ),
      h(
        "div.downloads",
        {},
        h("span.muted.small", { text: "Download" }),
        h("a.button", {
          href: this.url("/export?format=md"),
          download: `hotseat-report-${this.sessionId}.md`,
          "aria-label": "Download Markdown",
          text: "Markdown",
        }),
        h("a.button", {
          href: this.url("/export?format=json"),
          download: `hotseat-report-${this.sessionId}.json`,
          "aria-label": "Download JSON",
          text: "JSON",
        }),
      ),
    );

    const status = h("p.report-status", { role: "status" });
    if (report.status === "pending") {
      status.textContent = "Still scoring some answers; this report updates by itself.";
      status.dataset.state = "pending";
    } else if (report.status === "in_progress") {
      status.textContent = "The interview is still in progress: finish it to get the full report.";
      status.dataset.state = "in_progress";
    } else {
      status.hidden = true;
    }

    const overview = h(
      "div.overview",
      {},
      stat(average === null ? "–" : average.toFixed(1), "average score, of 5"),
      stat(`${scored.length} of ${report.questions.length}`, "answers scored"),
      stat(String(report.questions.filter((q) => q.skipped).length), "skipped"),
    );

    const highlights = h(
      "div.highlights",
      {},
      this.highlightCard("Strengths", "strengths", report.strengths, report, "No answer scored 4 or more yet."),
      this.highlightCard("Priorities", "priorities", report.priorities, report, "Nothing scored 3 or less. Well done."),
    );

    const questions = h(
      "section.questions",
      { "aria-labelledby": "questions-title" },
      h("h3", { id: "questions-title", text: "Question by question" }),
      report.questions.length
        ? report.questions.map((question) => this.questionCard(question))
        : h("p.muted", { text: "No questions were asked." }),
    );

    const parts = [head, status, overview, highlights, progressCard(report, average), questions].filter(Boolean);
    if (report.claims?.length) parts.push(this.claimsCard(report));
    if (report.summary?.text) {
      const body = h("div.md");
      renderMarkdown(body, report.summary.text);
      parts.push(h("section.summary", { "aria-labelledby": "summary-title" }, h("h3", { id: "summary-title", text: "The interviewer's summary" }), body));
    }
    this.container.dataset.status = report.status;
    this.container.replaceChildren(...parts);
  }

  highlightCard(title, kind, items, report, empty) {
    const list = h("ul.highlight-list");
    for (const item of items || []) {
      const question = report.questions.find((q) => q.index === item.question_index);
      const li = h(
        "li",
        {},
        h("div.highlight-head", {}, scoreBadge(item.score), verdictLabel(item.verdict), h("span.point", { text: item.point })),
        question
          ? h("p.muted.small.from-question", { title: question.question, text: `Question ${question.index + 1}` })
          : null,
      );
      if (item.evidence) li.append(this.evidence(item.evidence, item.evidence_turn_id));
      if (item.suggestion) li.append(h("p.suggestion", { text: item.suggestion }));
      list.append(li);
    }
    if (!list.childElementCount) list.append(h("li.muted", { text: empty }));
    return h("section", { class: `card highlight ${kind}`, "aria-label": title }, h("h3", { text: title }), list);
  }

  questionCard(question) {
    const assessment = question.assessment || { status: "pending" };
    const card = h("article.question-card", { dataset: { status: assessment.status }, "aria-labelledby": `q-${question.index}` });
    const badge = assessment.status === "complete"
      ? h("span.badge.score-badge", { text: `${assessment.average.toFixed(1)} / 5` })
      : h("span.badge", { text: STATUS_BADGE[assessment.status] || assessment.status });
    card.append(
      h(
        "header.question-head",
        {},
        h("span.q-number", { text: `Q${question.index + 1}` }),
        h("h4", { id: `q-${question.index}`, text: question.question }),
        badge,
      ),
    );
    if (assessment.status !== "complete") {
      const text = STATUS_TEXT[assessment.status] || "Not scored.";
      card.append(h("p.explain", { text }));
      if (assessment.reason && assessment.status === "not_assessed") card.append(h("p.muted.small", { text: `Reason: ${assessment.reason}` }));
      const answer = question.answers?.at(-1);
      if (answer && assessment.status !== "skipped") card.append(this.answerLink(answer.turn_id, "Go to your answer"));
    } else {
      card.append(chart(assessment.points, question.index));
      if (assessment.relevance === "off_topic") card.append(h("p.explain", { text: offTopicNote(question.answers) }));
      card.append(this.pointList(assessment.points));
      const about = [ANALYSER_TEXT[assessment.analyser], assessment.note ? `Note: ${assessment.note}.` : null];
      if (about.some(Boolean)) card.append(h("p.muted.small.assessment-note", { text: about.filter(Boolean).join(" ") }));
    }
    if (question.strong_answer_covers?.length) card.append(strongAnswer(question));
    if (assessment.status === "complete" && assessment.suggestion) {
      card.append(h("p.suggestion", { text: assessment.suggestion }));
    }
    return card;
  }

  pointList(points) {
    const list = h("ol.points");
    for (const point of points) {
      const li = h(
        "li.point-item",
        { dataset: { verdict: point.verdict } },
        h("div.point-head", {}, scoreBadge(point.score), verdictLabel(point.verdict), h("span.point", { text: point.point })),
      );
      const quotes = point.quotes || [];
      if (quotes.length) li.append(h("div.quotes", {}, quotes.map((quote) => this.evidence(quote.text, quote.turn_id))));
      list.append(li);
    }
    return list;
  }

  claimsCard(report) {
    const list = h("ul.claim-list");
    for (const claim of report.claims) {
      const question = report.questions.find((q) => q.index === claim.question_index);
      const li = h(
        "li.claim-item",
        { dataset: { state: claim.state } },
        h("div.claim-head", {}, h("span", { class: `claim-state c-${claim.state}`, text: CLAIM_TEXT[claim.state] || claim.state }), h("span.claim-line", { text: claim.line })),
        question ? h("p.muted.small.from-question", { title: question.question, text: `Question ${question.index + 1}` }) : null,
      );
      if (claim.quote) li.append(this.evidence(claim.quote.text, claim.quote.turn_id));
      list.append(li);
    }
    return h(
      "section.card.claims",
      { "aria-labelledby": "claims-title" },
      h("h3", { id: "claims-title", text: "Your CV, claim by claim" }),
      h("p.muted.small", { text: "Each achievement on your CV, and whether your answers backed it up." }),
      list,
    );
  }

  evidence(quote, turnId) {
    const figure = h("figure.evidence", {}, h("blockquote", { text: quote }));
    if (turnId) figure.append(h("figcaption", {}, this.answerLink(turnId, "Show in your answer")));
    return figure;
  }

  answerLink(turnId, label) {
    return h("a.evidence-link", {
      href: `#turn-${turnId}`,
      dataset: { turn: turnId },
      text: label,
      onclick: (event) => {
        event.preventDefault(); // the hash is the page's route; scroll instead of navigating
        this.reveal(turnId);
      },
    });
  }
}

function stat(value, label) {
  return h("div.stat", {}, h("span.stat-value", { text: value }), h("span.stat-label", { text: label }));
}

function verdictLabel(verdict) {
  if (!verdict) return null;
  return h("span", { class: `verdict v-${verdict}`, text: VERDICT_TEXT[verdict] || verdict });
}

// A question's relevance is its latest answer's (the one the interviewer's next move replied to),
// while its verdicts count every answer: with several, the note says which one strayed.
function offTopicNote(answers) {
  if (!answers || answers.length < 2) return "Your answer was about something other than this question.";
  const last = answers.at(-1).text.trim();
  const shown = last.length > 80 ? `${last.slice(0, 79)}…` : last;
  return `Your last answer here (“${shown}”) was about something other than this question; the verdicts above count all ${answers.length} of your answers to it.`;
}

function strongAnswer(question) {
  return h(
    "section.strong-answer",
    { "aria-labelledby": `strong-${question.index}` },
    h("h5", { id: `strong-${question.index}`, text: "What a strong answer covers" }),
    h("ul", {}, question.strong_answer_covers.map((line) => h("li", { text: line }))),
  );
}

function scoreBadge(score) {
  // role="img": a plain span's aria-label is not read out; this one is, instead of the bare digit.
  return h("span", { class: `score s${score}`, role: "img", text: String(score), "aria-label": `score ${score} of 5` });
}

/** One horizontal bar per assessment point, on a 1-5 scale. */
function chart(points, index) {
  const rowHeight = 26;
  const top = 6;
  const left = 30;
  const right = 34;
  const width = 360;
  const plot = width - left - right;
  const height = top + points.length * rowHeight + 22;
  const x = (score) => left + (plot * score) / 5;
  const titleId = `chart-${index}-title`;
  const summary = points.map((p, i) => `${i + 1}. ${p.point}: ${p.score} of 5`).join("; ");
  const root = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": titleId,
    preserveAspectRatio: "xMinYMin meet",
  });
  root.append(svg("title", { id: titleId }, `Scores for question ${index + 1}: ${summary}`));
  for (let score = 1; score <= 5; score++) {
    root.append(
      svg("line", { class: "grid", x1: x(score), x2: x(score), y1: top - 2, y2: height - 18 }),
      svg("text", { class: "axis", x: x(score), y: height - 4, "text-anchor": "middle" }, String(score)),
    );
  }
  points.forEach((point, i) => {
    const y = top + i * rowHeight;
    const bar = svg("rect", {
      class: `bar s${point.score}`,
      x: left,
      y: y + 5,
      width: Math.max(2, x(point.score) - left),
      height: rowHeight - 10,
      rx: 3,
    });
    bar.append(svg("title", {}, `${point.point}: ${point.score} of 5`));
    root.append(
      svg("text", { class: "row-label", x: left - 8, y: y + rowHeight / 2 + 4, "text-anchor": "end" }, String(i + 1)),
      bar,
      svg("text", { class: "bar-value", x: x(point.score) + 6, y: y + rowHeight / 2 + 4 }, String(point.score)),
    );
  });
  return h("figure.chart-figure", {}, root);
}
