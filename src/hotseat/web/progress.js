// The report's progress section: this interview against the owner's earlier finished interviews
// of the same pack (the report's `progress`). A small SVG chart of each interview's average
// score, then one line per assessment point with its scores over time and the change.

import { parseTime } from "./api.js";
import { h, svg, VERDICT_TEXT } from "./ui.js";

function day(value) {
  const time = parseTime(value);
  return time ? time.toLocaleDateString([], { month: "short", day: "numeric" }) : "";
}

/** The progress card, or null when there is no earlier interview to compare with; `average` is this
 * interview's, as the report's overview shows it. */
export function progressCard(report, average) {
  const progress = report.progress;
  if (!progress?.earlier?.length) return null;
  const runs = [
    ...progress.earlier.map((e) => ({ label: day(e.created_at), average: e.average })),
    { label: "This one", average },
  ];
  const count = progress.earlier.length;
  return h(
    "section.card.progress",
    { "aria-labelledby": "progress-title" },
    h("h3", { id: "progress-title", text: "Progress" }),
    h("p.muted", {
      text: `Compared with your ${count === 1 ? "earlier interview" : `${count} earlier interviews`} of this pack.`,
    }),
    averagesChart(runs),
    h(
      "ul.progress-points",
      {},
      progress.points.map((point) => {
        const trail = point.scores.map((s) => s.score).join(" → ");
        const words = point.scores.map((s) => `${day(s.created_at)}: ${s.score} of 5, ${VERDICT_TEXT[s.verdict]}`);
        const change = point.change;
        return h(
          "li",
          {},
          h("span.point", { text: point.point }),
          h("span.trail", { title: words.join("; "), text: trail }),
          change === null
            ? h("span.change.muted", { text: "scored once" })
            : h("span.change", {
                dataset: { sign: change > 0 ? "up" : change < 0 ? "down" : "same" },
                text: change > 0 ? `+${change}` : String(change),
              }),
        );
      }),
    ),
  );
}

/** One bar per interview: its average score on a 1-5 scale, oldest first. */
function averagesChart(runs) {
  const width = 360;
  const height = 100;
  const bottom = 22;
  const plot = height - bottom - 8;
  const slot = width / runs.length;
  const barWidth = Math.min(42, slot * 0.6);
  const summary = runs.map((r) => `${r.label}: ${r.average === null ? "not scored" : r.average.toFixed(1)}`).join("; ");
  const root = svg("svg", {
    class: "chart progress-chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": "progress-chart-title",
    preserveAspectRatio: "xMinYMin meet",
  });
  root.append(svg("title", { id: "progress-chart-title" }, `Average score per interview, of 5: ${summary}`));
  runs.forEach((run, i) => {
    const x = slot * i + (slot - barWidth) / 2;
    const value = run.average ?? 0;
    const barHeight = Math.max(2, (plot * value) / 5);
    const bar = svg("rect", {
      class: `bar s${Math.max(1, Math.round(value))}`,
      x,
      y: 8 + plot - barHeight,
      width: barWidth,
      height: barHeight,
      rx: 3,
    });
    bar.append(svg("title", {}, `${run.label}: ${run.average === null ? "not scored" : run.average.toFixed(1)} of 5`));
    root.append(
      bar,
      svg("text", { class: "bar-value", x: x + barWidth / 2, y: 4 + plot - barHeight, "text-anchor": "middle" },
        run.average === null ? "–" : run.average.toFixed(1)),
      svg("text", { class: "axis", x: x + barWidth / 2, y: height - 6, "text-anchor": "middle" }, run.label),
    );
  });
  return h("figure.chart-figure", {}, root);
}
