"""How long the matcher and the plan take to decide the next move after an answer.

The decision sits between the candidate's answer and the start of the interviewer's next turn,
so its budget is small (300 ms, issue #20). This times ``matcher.analyse`` plus
``plan.next_move`` for every answer of the calibration set (with the fixture CV's claims), as
the answer path runs them: the whole set ``--rounds`` times, after one warm-up round. Also the
longest answers repeated to ``--long-words`` words, as a worst case.

    .venv/bin/python -m bench.analysis [--rounds 20] [--long-words 1500]
"""

from __future__ import annotations

import argparse
import statistics
import time

from hotseat.calibration.run import fixture_claims, load_samples
from hotseat.interview.analysis import matcher
from hotseat.interview.analysis.matcher import AnswerText
from hotseat.interview.packs import BUILTIN_PACKS_DIR, PackRegistry
from hotseat.interview.plan import next_move


def decide(question: object, text: str, claims: list[object]) -> None:
    analysis = matcher.analyse(question, [AnswerText("t", text)], claims)  # type: ignore[arg-type]
    next_move(
        analysis,
        followups_used=0,
        max_followups=2,
        probed=(),
        redirected=False,
        claim_pending=False,
        last_question=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--long-words", type=int, default=1500)
    args = parser.parse_args()
    packs = PackRegistry.load([BUILTIN_PACKS_DIR])
    claims: list[object] = list(fixture_claims())
    cases = [(packs.get(s.pack).question(s.question), s.text) for s in load_samples()]
    for question, text in cases:  # warm-up: stemmer cache, regexes
        decide(question, text, claims)
    timings = []
    for _ in range(args.rounds):
        for question, text in cases:
            started = time.perf_counter()
            decide(question, text, claims)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    longest_question, longest = max(cases, key=lambda case: len(case[1]))
    words = longest.split()
    long_text = " ".join((words * (args.long_words // len(words) + 1))[: args.long_words])
    long_timings = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        decide(longest_question, long_text, claims)
        long_timings.append((time.perf_counter() - started) * 1000)
    print(f"answers: {len(cases)} x {args.rounds} rounds, {len(claims)} CV claims")
    p99 = timings[int(0.99 * len(timings)) - 1]
    print(f"decision ms: p50 {statistics.median(timings):.2f}  p99 {p99:.2f}  max {timings[-1]:.2f}")
    long_median = statistics.median(long_timings)
    print(f"a {args.long_words}-word answer: median {long_median:.1f} ms, max {max(long_timings):.1f} ms")


if __name__ == "__main__":
    main()
