"""Interview packs: one YAML file each, validated strictly, held in a registry by id.

A pack is the product: a persona (``system_prompt``) and the questions the
interviewer asks, each with the points a strong answer shows. The format,
every field and its limits are documented in docs/packs.md; keep the two in step.

Loading is strict because operators write these files by hand: an unknown key,
a wrong type or a typo in a placeholder is refused with a ``PackError`` whose
message names the file, the line, the field and what is wrong, one problem a
line::

    packs/foo.yaml:14: questions.2.assessment: must have at least 1 item

The server loads ``BUILTIN_PACKS_DIR`` and then the operator's directories
(``Settings.pack_dirs()``) with ``PackRegistry.load``; a later directory
overrides a pack of the same id, and any invalid file stops the start-up.
"""

from __future__ import annotations

import difflib
import logging
import re
import string
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Final

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from hotseat.errors import BadRequest, NotFound

log = logging.getLogger(__name__)

BUILTIN_PACKS_DIR: Final[Path] = Path(str(files("hotseat") / "packs"))
PACK_SUFFIXES: Final = (".yaml", ".yml")
PLACEHOLDERS: Final = ("pack_title", "question", "assessment_points", "language")
MAX_FILE_BYTES: Final = 1024 * 1024
MAX_QUESTIONS: Final = 30
MAX_ASSESSMENT_POINTS: Final = 8
MAX_FOLLOWUPS: Final = 5
MAX_SIGNALS: Final = 40
# More problems than this in one error are summarised as "... and N more".
MAX_REPORTED_PROBLEMS: Final = 20

_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
_LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
_ID_RULE = "must be 1-64 lowercase letters, digits or '-', starting with a letter or digit"
_LANGUAGE_RULE = "must be a language code such as 'en', 'ko' or 'pt-BR'"

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


# --------------------------------------------------------------------------- models

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
                _with_default(item, "id", f"q{number}") if isinstance(item, Mapping) else item
                for number, item in enumerate(data["questions"], start=1)
            ]
            data = _with_default(data, "questions", questions, replace=True)
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

    def summary(self) -> dict[str, Any]:
        """What ``GET /api/packs`` lists for the candidate to choose from."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "language": self.language,
            "question_count": len(self.questions),
        }

    def public_dict(self) -> dict[str, Any]:
        """What ``GET /api/packs/{id}`` shows: everything but the system prompt.

        Questions and assessment points are public on purpose: candidates practise
        with them. The system prompt is the operator's and stays on the server.
        """
        return {
            **self.summary(),
            "followups": {"max_per_question": self.followups.max_per_question},
            "questions": [
                {
                    "id": question.id,
                    "question": question.question,
                    "personalise": question.personalise,
                    "assessment": list(question.points),
                }
                for question in self.questions
            ],
        }


def _with_default(data: Mapping[Any, Any], key: str, value: Any, *, replace: bool = False) -> dict[Any, Any]:
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


# --------------------------------------------------------------------------- errors


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


# --------------------------------------------------------------------------- YAML

_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _PackLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, no timestamps, and duplicate keys refused.

    ``language: no`` stays the string "no" (Norwegian), not False; only
    true/false are booleans. Dates stay strings: no pack field is a date.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in first_line:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key_node.value!r} (first on line {first_line[key_node.value]})",
                        key_node.start_mark,
                    )
                first_line[key_node.value] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


_PackLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PackLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _yaml_problem(source: str, exc: yaml.YAMLError) -> PackProblem:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        what = f"{exc.context}: {exc.problem}" if exc.context else str(exc.problem)
        mark = exc.problem_mark
        return PackProblem(source, None, f"invalid YAML: {what}", mark.line + 1, mark.column + 1)
    return PackProblem(source, None, f"invalid YAML: {exc}")


def _line_of(root: yaml.Node, loc: Sequence[int | str]) -> int:
    """The 1-based line of the node at ``loc``, or of its nearest ancestor that exists."""
    node, line = root, root.start_mark.line
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    node, line = value_node, key_node.start_mark.line
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return line + 1


# --------------------------------------------------------------------------- validation messages


def _kind_of(value: object) -> str:
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
        return "must be text, but it is empty" if value is None else f"must be text, not {_kind_of(value)}"
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
        return f"must be a list (lines starting with '- '), not {_kind_of(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of 'key: value' lines, not {_kind_of(value)}"
    if kind == "int_type":
        return f"must be a whole number, not {_kind_of(value)}"
    if kind == "bool_type":
        return f"must be true or false, not {_kind_of(value) if not isinstance(value, str) else repr(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, not {value!r}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}, not {value!r}"
    message = error["msg"]
    return message[:1].lower() + message[1:]


def _is_scalar_at(root: yaml.Node, loc: Sequence[int | str]) -> bool:
    node: yaml.Node | None = root
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            node = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return False
    return isinstance(node, yaml.ScalarNode)


def _problems(
    exc: ValidationError, source: str, root: yaml.Node | None, default_id: str | None
) -> list[PackProblem]:
    problems = []
    for error in exc.errors():
        ctx = error.get("ctx") or {}
        loc = (*error["loc"], *ctx.get("sub_loc", ()))
        if loc[-1:] == ("point",) and root is not None and _is_scalar_at(root, loc[:-1]):
            loc = loc[:-1]  # a point written as plain text: name the list item, not a hidden key
        message = _describe(error, loc)
        if message is None:
            continue
        if loc == ("id",) and default_id is not None:
            message += f" (the id defaults to the file name {default_id!r}; set id: in the file)"
        field = ".".join(str(part) for part in loc) or "(top level)"
        line = _line_of(root, loc) if root is not None else None
        problems.append(PackProblem(source, field, message, line))
    return sorted(problems, key=lambda problem: problem.line or 0)


# --------------------------------------------------------------------------- loading


def parse_pack(text: str, *, source: str = "<pack>", default_id: str | None = None) -> Pack:
    """Parse and validate one pack's YAML; ``default_id`` is used when the file sets no id."""
    loader = _PackLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise PackError.from_problems([_yaml_problem(source, exc)]) from None
    finally:
        loader.dispose()
    if data is None:
        raise PackError.single(
            source,
            "the file is empty; a pack needs title, description, language, system_prompt and questions",
        )
    if not isinstance(data, dict):
        raise PackError.single(
            source, f"the top level must be a mapping of 'key: value' lines, not {_kind_of(data)}", line=1
        )
    if default_id is not None and "id" not in data:
        data = _with_default(data, "id", default_id)
    else:
        default_id = None
    try:
        return Pack.model_validate(data)
    except ValidationError as exc:
        raise PackError.from_problems(_problems(exc, source, root, default_id)) from None


def load_pack_file(path: Path) -> Pack:
    """Read and validate one pack file; its id defaults to the file name without suffix."""
    source = str(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise PackError.single(source, "no such file") from None
    except IsADirectoryError:
        raise PackError.single(source, "is a directory, not a pack file") from None
    except OSError as exc:
        raise PackError.single(source, f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise PackError.single(source, f"the file is larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PackError.single(source, "is not UTF-8 text", line=line) from None
    return parse_pack(text, source=source, default_id=path.stem)


def _pack_files(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix in PACK_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


def _scan_dir(directory: Path) -> list[tuple[Path, Pack | PackError]]:
    """Every pack file of one directory, loaded; an id used twice in it is an error on the second."""
    source = str(directory)
    if not directory.exists():
        return [(directory, PackError.single(source, "pack directory does not exist"))]
    if not directory.is_dir():
        return [(directory, PackError.single(source, "is not a directory"))]
    try:
        paths = _pack_files(directory)
    except OSError as exc:
        return [(directory, PackError.single(source, f"cannot list the directory: {exc.strerror or exc}"))]
    results: list[tuple[Path, Pack | PackError]] = []
    owner: dict[str, Path] = {}
    for path in paths:
        outcome: Pack | PackError
        try:
            outcome = load_pack_file(path)
        except PackError as exc:
            outcome = exc
        if isinstance(outcome, Pack):
            if outcome.id in owner:
                outcome = PackError.single(
                    str(path),
                    f"pack id {outcome.id!r} is also used by {owner[outcome.id].name} in the same "
                    "directory; only a later directory may override an id",
                    field="id",
                )
            else:
                owner[outcome.id] = path
        results.append((path, outcome))
    return results


def validate_paths(paths: Iterable[Path]) -> list[tuple[Path, Pack | PackError]]:
    """Check pack files and directories of pack files, as ``hotseat packs validate`` does."""
    results: list[tuple[Path, Pack | PackError]] = []
    for path in paths:
        if path.is_dir():
            scanned = _scan_dir(path)
            if not scanned:
                scanned = [(path, PackError.single(str(path), "contains no *.yaml or *.yml files"))]
            results.extend(scanned)
        else:
            try:
                results.append((path, load_pack_file(path)))
            except PackError as exc:
                results.append((path, exc))
    return results


class PackRegistry:
    """The packs the server offers, by id; a later ``add`` replaces an id."""

    def __init__(self, packs: Iterable[Pack] = ()) -> None:
        self._packs: dict[str, Pack] = {}
        self._sources: dict[str, Path] = {}
        for pack in packs:
            self.add(pack)

    @classmethod
    def load(cls, dirs: Sequence[Path]) -> PackRegistry:
        """Load ``*.yaml``/``*.yml`` from each directory in order; later directories override ids.

        Any invalid file or missing directory raises one ``PackError`` listing every problem.
        """
        registry = cls()
        problems: list[PackProblem] = []
        for directory in dirs:
            for path, outcome in _scan_dir(directory):
                if isinstance(outcome, PackError):
                    problems.extend(outcome.problems)
                    continue
                previous = registry._sources.get(outcome.id)
                if previous is not None:
                    log.info("pack %r from %s overrides %s", outcome.id, path, previous)
                registry.add(outcome, source=path)
        if problems:
            raise PackError.from_problems(problems)
        return registry

    def add(self, pack: Pack, *, source: Path | None = None) -> None:
        """Offer ``pack``, replacing any pack with the same id."""
        self._packs[pack.id] = pack
        if source is not None:
            self._sources[pack.id] = source
        else:
            self._sources.pop(pack.id, None)

    def get(self, pack_id: str) -> Pack:
        """The pack with this id; ``NotFound`` names the known ids."""
        pack = self._packs.get(pack_id)
        if pack is None:
            known = ", ".join(sorted(self._packs)) or "none are installed"
            raise NotFound(f"No interview pack with id {pack_id[:80]!r}. Known packs: {known}.")
        return pack

    def source(self, pack_id: str) -> Path | None:
        """The file a pack was loaded from, if it came from one."""
        return self._sources.get(pack_id)

    def all(self) -> list[Pack]:
        """Every pack, sorted by title (then id)."""
        return sorted(self._packs.values(), key=lambda pack: (pack.title.casefold(), pack.id))

    def __len__(self) -> int:
        return len(self._packs)

    def __contains__(self, pack_id: object) -> bool:
        return pack_id in self._packs
