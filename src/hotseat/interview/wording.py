"""The interviewer's authored words around the pack's own: greetings, anchors on CV lines,
redirects, closings and the short acknowledgements used when the model's bridge is dropped.

English and Korean are written out; any other language uses the English connective words (the
pack's questions and probes are still asked in the pack's own wording).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Wording:
    greeting: str  # {title}, {count}
    anchor: str  # {line}
    next_question: str
    redirect_off_topic: str  # {question}
    redirect_declined: str
    probe_claim: str  # {line}
    probe_generic: str
    closing: str
    acknowledgements: tuple[str, ...]
    # After a thin answer: heard, not thanked for substance it did not have.
    neutral_acknowledgements: tuple[str, ...]
    # Before the next question when the last answer was off topic or declined.
    move_on: str
    shown_heading: str
    missing_heading: str
    priorities_heading: str
    claims_heading: str
    nothing_shown: str
    practise: str  # {probe}
    claim_never_asked: str  # {line}
    claim_contradicted: str  # {line}


ENGLISH = Wording(
    greeting=(
        "Hello, and welcome to this practice interview: {title}. I'll ask you {count} questions, "
        "and follow up where I'd like to hear more. Answer as you would in a real interview."
    ),
    anchor="On your CV you wrote: “{line}”. You could take that as your example.",
    next_question="Next question.",
    redirect_off_topic="Let's come back to what I asked. {question}",
    redirect_declined=(
        "That's all right. How would you go about finding out, or where would you start if this "
        "landed on your desk tomorrow?"
    ),
    probe_claim="Your CV says “{line}”. What was your own part in that, and how did you know it had worked?",
    probe_generic="Can you make that concrete: what did you do yourself, and what happened as a result?",
    closing=(
        "Those are all my questions. Thank you for your answers. Finish the interview when you're "
        "ready, and you'll get a report on what you showed and what to work on."
    ),
    move_on="All right, let's move on.",
    acknowledgements=(
        "Thank you.",
        "Thanks, that helps.",
        "Okay, thank you.",
        "Understood, thanks.",
        "Thanks for walking me through that.",
    ),
    neutral_acknowledgements=("Okay.", "I see.", "All right."),
    shown_heading="What you showed",
    missing_heading="What was missing",
    priorities_heading="Top priorities for next time",
    claims_heading="Your CV",
    nothing_shown="No assessment point was shown clearly yet.",
    practise="Practise answering: {probe}",
    claim_never_asked="Not discussed: “{line}”",
    claim_contradicted="Your answer and your CV disagreed on: “{line}”",
)

KOREAN = Wording(
    greeting=(
        "안녕하세요. {title} 모의 면접에 오신 것을 환영합니다. 질문은 {count}개이고, 더 듣고 싶은 부분은 "
        "추가로 여쭤보겠습니다. 실제 면접처럼 답변해 주세요."
    ),
    anchor="이력서에 “{line}”라고 적으셨는데요. 그 경험을 예로 들어 답해 주셔도 좋습니다.",
    next_question="다음 질문입니다.",
    redirect_off_topic="제가 드린 질문으로 돌아가 볼게요. {question}",
    redirect_declined="괜찮습니다. 내일 이 일을 맡게 된다면 어떻게 알아보고, 어디서부터 시작하시겠어요?",
    probe_claim=(
        "이력서에 “{line}”라고 쓰셨는데요. 그 일에서 본인이 맡은 역할은 무엇이었고, "
        "효과가 있었다는 건 어떻게 확인하셨나요?"
    ),
    probe_generic="조금 더 구체적으로 말씀해 주시겠어요? 본인이 직접 한 일과 그 결과가 궁금합니다.",
    closing=(
        "준비한 질문은 여기까지입니다. 답변해 주셔서 감사합니다. 준비되시면 면접을 마치고, 보여주신 점과 "
        "보완할 점을 정리한 리포트를 받아 보세요."
    ),
    move_on="네, 다음으로 넘어가겠습니다.",
    acknowledgements=("감사합니다.", "네, 잘 들었습니다.", "말씀 감사합니다.", "네, 알겠습니다."),
    neutral_acknowledgements=("네.", "알겠습니다.", "그렇군요."),
    shown_heading="잘 보여주신 점",
    missing_heading="부족했던 점",
    priorities_heading="다음에 우선 보완할 점",
    claims_heading="이력서 내용",
    nothing_shown="아직 명확하게 보여주신 평가 항목이 없습니다.",
    practise="연습해 볼 질문: {probe}",
    claim_never_asked="다루지 않음: “{line}”",
    claim_contradicted="답변과 이력서 내용이 달랐던 부분: “{line}”",
)


def wording(language: str) -> Wording:
    return KOREAN if language.split("-", 1)[0].lower() == "ko" else ENGLISH


def acknowledgement(language: str, turn_number: int, *, neutral: bool = False) -> str:
    """One of the authored acknowledgements, varied by turn so they don't repeat back to back;
    ``neutral``: one that thanks for nothing (after a thin answer)."""
    words = wording(language)
    options = words.neutral_acknowledgements if neutral else words.acknowledgements
    return options[turn_number % len(options)]


# Second verbs of the built-in packs' points ("... and stays consistent"): "and" is followed by
# nouns as often ("and errors"), so only these known verbs are turned into advice.
_SECOND_VERBS = {
    "adapts": "adapt",
    "explains": "explain",
    "is": "be",
    "keeps": "keep",
    "knows": "know",
    "leaves": "leave",
    "reaches": "reach",
    "schedules": "schedule",
    "stays": "stay",
}
_TO_CANDIDATE = {"they": "you", "themselves": "yourself", "their own": "your own"}
_CANDIDATE = re.compile(r"\b(?:they|themselves|their own)\b")
_SECOND_VERB = re.compile(r"(?<=\band )(" + "|".join(_SECOND_VERBS) + r")\b")


def for_candidate(point: str) -> str:
    """An assessment point phrased as advice: "Identifies the race..." -> "Identify the race..."."""
    advice = _first_verb_as_advice(point)
    if advice == point:
        return point
    advice = _SECOND_VERB.sub(lambda match: _SECOND_VERBS[match.group(1)], advice)
    # "they" in a point is the candidate ("what they would change"), as is "their own"; a plain
    # "their" may be anyone's ("the consumers and their use cases"), so it stays.
    return _CANDIDATE.sub(lambda match: _TO_CANDIDATE[match.group(0)], advice)


def _first_verb_as_advice(point: str) -> str:
    first, _, rest = point.partition(" ")
    irregular = {"Is": "Be", "Has": "Have", "Does": "Do", "Goes": "Go"}
    if first in irregular:
        verb = irregular[first]
    elif first.endswith("ies") and len(first) > 4:
        verb = first[:-3] + "y"
    elif first.endswith(("sses", "shes", "ches", "xes", "zes")):
        verb = first[:-2]
    elif first.endswith("s") and not first.endswith("ss") and first[:1].isupper() and first.isalpha():
        verb = first[:-1]
    else:
        return point
    return f"{verb} {rest}" if rest else verb
