"""CV claims: one per achievement line, quoted as written, with its metric and skills."""

from __future__ import annotations

from hotseat.calibration.run import FIXTURES
from hotseat.interview.analysis.claims import (
    anchor_for,
    best_claim,
    claims_of,
    cv_deletions,
    extract_claims,
    forget_kept_claims,
    kept_cvs,
)
from hotseat.interview.packs import BUILTIN_PACKS_DIR, PackRegistry

CV = (FIXTURES / "cv.md").read_text(encoding="utf-8")
PACK = PackRegistry.load([BUILTIN_PACKS_DIR]).get("backend-engineer")


def test_achievement_lines_are_claims_and_wrapped_lines_are_joined() -> None:
    """Bullets that say what was done become claims, whole even when the CV wraps them."""
    claims = extract_claims(CV)
    first = claims[0]
    assert first.id == "c1"
    assert first.line.startswith("Designed and led v2 of the public Payments API")
    assert first.line.endswith("in the two quarters after launch.")
    assert all(claim.line in " ".join(CV.split()) for claim in claims)


def test_contact_lines_headings_and_education_are_not_claims() -> None:
    """Email, headings and degrees are not achievements."""
    lines = [claim.line for claim in extract_claims(CV)]
    assert not any("@" in line or line.startswith("#") or "BSc" in line for line in lines)


def test_metrics_and_skills_are_found() -> None:
    """A latency cut carries its metric and the technologies it names."""
    claim = next(c for c in extract_claims(CV) if c.line.startswith("Cut p99 checkout latency"))
    assert claim.metric == "900 ms"
    assert "redis" in claim.skills and "go" in claim.skills


def test_a_personalised_question_is_anchored_on_the_claim_that_matches_it() -> None:
    """The API-design question anchors on the API line; a question with no match gets none."""
    claims = extract_claims(CV)
    anchor = anchor_for(PACK, 0, claims, used=())
    assert anchor is not None
    assert "Payments API" in next(c.line for c in claims if c.id == anchor)
    assert best_claim(claims, "knitting jumpers for alpacas") is None
    assert anchor_for(PACK, 2, claims, used=()) is None  # concurrency is not personalised


def test_no_cv_no_claims() -> None:
    """Without a CV there is nothing to anchor on."""
    assert extract_claims(None) == [] and extract_claims("") == []


def test_claims_are_kept_per_cv_text_and_forgotten_on_request() -> None:
    """``claims_of`` answers as ``extract_claims`` does, with a list of its own each time, and
    keeps nothing once told to forget (a CV was deleted)."""
    forget_kept_claims()
    first = claims_of(CV)
    assert first == extract_claims(CV)
    first.clear()  # the caller's list: what is kept is untouched
    assert claims_of(CV) == extract_claims(CV)
    assert claims_of(None) == claims_of("") == []
    assert kept_cvs() == 1
    forget_kept_claims()
    assert kept_cvs() == 0


def test_claims_of_a_text_read_before_a_deletion_are_not_kept() -> None:
    """A move that read its CV just before some CV was deleted must not keep that text again."""
    forget_kept_claims()
    before = cv_deletions()
    forget_kept_claims()  # a CV deleted while the move awaited its read
    assert claims_of(CV, deletions_before_read=before) == extract_claims(CV)
    assert kept_cvs() == 0
    assert claims_of(CV, deletions_before_read=cv_deletions()) == extract_claims(CV)
    assert kept_cvs() == 1
