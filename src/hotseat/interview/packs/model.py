"""The pack model: a persona and its questions, each with the points a strong answer shows.

The fields and their limits are documented in docs/packs.md; keep the two in step. How a broken
pack is worded for its author is in ``problems``, how files become packs in ``loading``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hotseat.errors import NotFound

PLACEHOLDERS: Final = ("pack_title", "question", "assessment_points", "language")
MAX_QUESTIONS: Final = 30
MAX_ASSESSMENT_POINTS: Final = 8
MAX_FOLLOWUPS: Final = 5
MAX_SIGNALS: Final = 40

_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
_LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"

# English names for `{language}`; any other code is rendered as written.
LANGUAGE_NAMES: Final[Mapping[str, str]] = {
    "ar": "Arabic",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "sv": "Swedish",
    "th": "Thai",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
    "zh": "Chinese",
}


def language_name(code: str) -> str:
    """The English name of a language code ("ko" -> "Korean"), or the code itself if unknown."""
    return LANGUAGE_NAMES.get(code.split("-", 1)[0].lower(), code)


Identifier = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, pattern=_ID_PATTERN)]
LanguageCode = Annotated[
    str, Strict(), StringConstraints(strip_whitespace=True, max_length=35, pattern=_LANGUAGE_PATTERN)
]
Title = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Description = Annotated[
    str, Strict(), StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)
]
SystemPrompt = Annotated[
    str, Strict(), StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)
]
QuestionText = Annotated[
    str, Strict(), StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)
]
AssessmentPoint = Annotated[
    str, Strict(), StringConstraints(strip_whitespace=True, min_length=1, max_length=300)
]
Signal = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


def _rule(message: str, *sub_loc: int | str) -> PydanticCustomError:
    """A pack rule broken; ``sub_loc`` points below the validated field (for the line number)."""
    return PydanticCustomError("pack_rule", message, {"sub_loc": sub_loc})


class Point(BaseModel):
    """One thing a strong answer shows, the follow-up that asks for it, and the words that show it.

    In YAML a point is either its text alone or a mapping with ``point`` and, optionally,
    ``probe`` and ``signals``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    point: AssessmentPoint
    # The authored follow-up asked when an answer missed this point.
    probe: Annotated[QuestionText | None, Field(default=None)] = None
    # Key terms and phrasings whose presence shows the candidate addressing this point (the matcher's).
    signals: Annotated[tuple[Signal, ...], Field(max_length=MAX_SIGNALS)] = ()

    @model_validator(mode="before")
    @classmethod
    def _text_alone(cls, data: Any) -> Any:
        return {"point": data} if isinstance(data, str) else data


class Question(BaseModel):
    """One question the interviewer asks, and what a strong answer shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    question: QuestionText
    # Ask it about something specific the candidate's CV says they did.
    personalise: Annotated[bool, Strict()] = True
    assessment: Annotated[tuple[Point, ...], Field(min_length=1, max_length=MAX_ASSESSMENT_POINTS)]

    @property
    def points(self) -> tuple[str, ...]:
        """The assessment points' texts, in order."""
        return tuple(point.point for point in self.assessment)


class FollowupPolicy(BaseModel):
    """How far the interviewer may dig into one answer before moving on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_per_question: Annotated[int, Strict(), Field(ge=0, le=MAX_FOLLOWUPS)] = 1
    # No longer used: what an answer covered decides follow-ups, not its length. Still accepted so
    # that packs written for earlier versions load.
    min_words: Annotated[int, Strict(), Field(ge=0, le=1000)] = 25


class Pack(BaseModel):
    """An interview: the interviewer's persona and rules, and its questions in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    title: Title
    description: Description
    language: LanguageCode
    system_prompt: SystemPrompt
    followups: FollowupPolicy = FollowupPolicy()
    questions: Annotated[tuple[Question, ...], Field(min_length=1, max_length=MAX_QUESTIONS)]

    @model_validator(mode="before")
    @classmethod
    def _default_question_ids(cls, data: Any) -> Any:
        """Questions without an id are q1, q2... by position."""
        if isinstance(data, Mapping) and isinstance(data.get("questions"), list):
            questions = [
                with_default(item, "id", f"q{number}") if isinstance(item, Mapping) else item
                for number, item in enumerate(data["questions"], start=1)
            ]
            data = with_default(data, "questions", questions, replace=True)
        return data

    @field_validator("title")
    @classmethod
    def _one_line_title(cls, title: str) -> str:
        if "\n" in title:
            raise _rule("must be a single line")
        return title

    @field_validator("system_prompt")
    @classmethod
    def _known_placeholders(cls, prompt: str) -> str:
        problem = placeholder_problem(prompt)
        if problem is not None:
            raise _rule(problem)
        return prompt

    @field_validator("questions")
    @classmethod
    def _unique_question_ids(cls, questions: tuple[Question, ...]) -> tuple[Question, ...]:
        first_index: dict[str, int] = {}
        for index, question in enumerate(questions):
            if question.id in first_index:
                first = first_index[question.id]
                raise _rule(
                    f"duplicate question id {question.id!r}, already used by questions.{first}"
                    " (questions without an id are q1, q2... by position)",
                    index,
                    "id",
                )
            first_index[question.id] = index
        return questions

    def render_system_prompt(self, question: Question | None = None) -> str:
        """The system prompt with its placeholders filled for ``question`` (blank if None)."""
        values = {
            "pack_title": self.title,
            "question": question.question if question is not None else "",
            "assessment_points": "\n".join(f"- {point}" for point in question.points)
            if question is not None
            else "",
            "language": language_name(self.language),
        }
        # Validation allows only these bare names, so format_map cannot reach attributes or items;
        # an unknown name (from a model built without validation) is left as written.
        return self.system_prompt.format_map(_KeepUnknown(values))

    def question(self, question_id: str) -> Question:
        """The question with this id; ``NotFound`` if the pack has none."""
        for question in self.questions:
            if question.id == question_id:
                return question
        known = ", ".join(q.id for q in self.questions)
        raise NotFound(f"Pack {self.id!r} has no question {question_id[:80]!r}. Its questions: {known}.")


def with_default(data: Mapping[Any, Any], key: str, value: Any, *, replace: bool = False) -> dict[Any, Any]:
    """A copy of ``data`` with ``key`` set if missing (or always, with ``replace``); keys may be any type."""
    result: dict[Any, Any] = {key: value}
    result.update(data)
    if replace:
        result[key] = value
    return result


class _KeepUnknown(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def placeholder_problem(template: str) -> str | None:
    """What is wrong with the placeholders of a system prompt, or None if nothing is."""
    allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    braces = "write a literal brace as {{ or }}"
    try:
        fields = [
            (name, spec, conv)
            for _, name, spec, conv in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError:
        return f"has an unmatched '{{' or '}}'; {braces}"
    for name, spec, conversion in fields:
        written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if name not in PLACEHOLDERS:
            return f"unknown placeholder {written}; the placeholders are {allowed}; {braces}"
        if spec or conversion:
            return f"placeholder {written} cannot have a format spec or conversion; write {{{name}}}"
    return None
