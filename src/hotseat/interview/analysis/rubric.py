"""The score of an assessment point, computed from its verdict and evidence (docs/interview.md).

| verdict | evidence | score |
|---|---|---|
| demonstrated | a verified quote that is specific | 5 |
| demonstrated | a verified quote | 4 |
| partial | a verified quote that is specific | 3 |
| partial | a verified quote, or none that checks out | 2 |
| not_shown, contradicted | | 1 |

A verdict of ``demonstrated`` with no verified quote counts as ``partial``: what the candidate
did not say cannot be shown. Nothing a model says about a number is used.
"""

from __future__ import annotations

from hotseat.interview.analysis.model import PointFinding, Verdict


def effective_verdict(finding: PointFinding) -> Verdict:
    """The verdict the evidence supports (demonstrated needs a quote that checks out)."""
    if finding.verdict == "demonstrated" and not finding.quotes:
        return "partial"
    return finding.verdict


def score(finding: PointFinding) -> int:
    verdict = effective_verdict(finding)
    if verdict == "demonstrated":
        return 5 if finding.specific else 4
    if verdict == "partial":
        return 3 if finding.quotes and finding.specific else 2
    return 1
