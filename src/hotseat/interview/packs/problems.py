"""What is wrong with a pack file, worded for the person who wrote it: one line per problem.

::

    packs/foo.yaml:14: questions.2.assessment: must have at least 1 item
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence, Sized
from dataclasses import dataclass
from typing import Final

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from hotseat.errors import BadRequest
from hotseat.interview.packs.model import FollowupPolicy, Pack, Point, Question
from hotseat.interview.packs.yaml_source import is_scalar_at, line_of

# More problems than this in one error are summarised as "... and N more".
MAX_REPORTED_PROBLEMS: Final = 20
_ID_RULE = "must be 1-64 lowercase letters, digits or '-', starting with a letter or digit"
_LANGUAGE_RULE = "must be a language code such as 'en', 'ko' or 'pt-BR'"


@dataclass(frozen=True, slots=True)
class PackProblem:
    """One thing wrong with one pack file; ``str()`` is the line shown to the operator."""

    source: str
    field: str | None
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class PackError(BadRequest):
    """A pack file that cannot be used; the message has one line per problem."""

    def __init__(self, message: str, *, problems: Sequence[PackProblem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[PackProblem, ...] = tuple(problems)

    @classmethod
    def from_problems(cls, problems: Sequence[PackProblem]) -> PackError:
        lines = [str(problem) for problem in problems[:MAX_REPORTED_PROBLEMS]]
        if len(problems) > MAX_REPORTED_PROBLEMS:
            lines.append(f"... and {len(problems) - MAX_REPORTED_PROBLEMS} more problems")
        return cls("\n".join(lines), problems=problems)

    @classmethod
    def single(
        cls, source: str, message: str, *, field: str | None = None, line: int | None = None
    ) -> PackError:
        return cls.from_problems([PackProblem(source, field, message, line)])


def yaml_problem(source: str, exc: yaml.YAMLError) -> PackProblem:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        what = f"{exc.context}: {exc.problem}" if exc.context else str(exc.problem)
        mark = exc.problem_mark
        return PackProblem(source, None, f"invalid YAML: {what}", mark.line + 1, mark.column + 1)
    return PackProblem(source, None, f"invalid YAML: {exc}")


def kind_of(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false (put it in quotes if you mean text)"
    if isinstance(value, int | float):
        return "a number (put it in quotes if you mean text)"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    match tuple(loc):
        case ():
            return Pack
        case ("followups",):
            return FollowupPolicy
        case ("questions", int()):
            return Question
        case ("questions", int(), "assessment", int()):
            return Point
    return None


def _describe(error: ErrorDetails, loc: Sequence[int | str]) -> str | None:
    """A person's wording of one pydantic error; None for an error that is only an echo of another."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error["input"]
    name = loc[-1] if loc else ""
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        if model is None:
            return "unknown field"
        allowed = list(model.model_fields)
        close = difflib.get_close_matches(str(name), allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(allowed)
        return f"unknown field; {hint}"
    if kind == "string_type":
        return "must be text, but it is empty" if value is None else f"must be text, not {kind_of(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        length = len(value.strip()) if isinstance(value, str) else "?"
        return f"is too long: {length} characters, at most {ctx.get('max_length')}"
    if kind == "string_pattern_mismatch":
        rule = _LANGUAGE_RULE if name == "language" else _ID_RULE if name == "id" else "has the wrong form"
        return f"{rule}, not {value!r}"
    if kind == "too_short":
        if isinstance(value, Sized) and len(value) >= ctx.get("min_length", 0):
            return None  # pydantic repeats this when items fail; the item errors say it all
        minimum = ctx.get("min_length")
        return f"must have at least {minimum} item{'s' if minimum != 1 else ''}"
    if kind == "too_long":
        count = len(value) if isinstance(value, Sized) else "more"
        return f"must have at most {ctx.get('max_length')} items, not {count}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list (lines starting with '- '), not {kind_of(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of 'key: value' lines, not {kind_of(value)}"
    if kind == "int_type":
        return f"must be a whole number, not {kind_of(value)}"
    if kind == "bool_type":
        return f"must be true or false, not {kind_of(value) if not isinstance(value, str) else repr(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, not {value!r}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}, not {value!r}"
    message = error["msg"]
    return message[:1].lower() + message[1:]


def validation_problems(
    exc: ValidationError, source: str, root: yaml.Node | None, default_id: str | None
) -> list[PackProblem]:
    problems = []
    for error in exc.errors():
        ctx = error.get("ctx") or {}
        loc = (*error["loc"], *ctx.get("sub_loc", ()))
        if loc[-1:] == ("point",) and root is not None and is_scalar_at(root, loc[:-1]):
            loc = loc[:-1]  # a point written as plain text: name the list item, not a hidden key
        message = _describe(error, loc)
        if message is None:
            continue
        if loc == ("id",) and default_id is not None:
            message += f" (the id defaults to the file name {default_id!r}; set id: in the file)"
        field = ".".join(str(part) for part in loc) or "(top level)"
        line = line_of(root, loc) if root is not None else None
        problems.append(PackProblem(source, field, message, line))
    return sorted(problems, key=lambda problem: problem.line or 0)
