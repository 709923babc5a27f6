"""Interview packs: the built-in packs, the loader's error messages, the registry and prompt rendering."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hotseat.api.pack_views import pack_detail, pack_summary
from hotseat.errors import BadRequest, NotFound
from hotseat.interview.packs import (
    BUILTIN_PACKS_DIR,
    PLACEHOLDERS,
    FollowupPolicy,
    Pack,
    PackError,
    PackRegistry,
    Question,
    load_pack_file,
    parse_pack,
    placeholder_problem,
    validate_paths,
)

BUILTIN_IDS = {"general-behavioural", "general-behavioural-ko", "backend-engineer", "cv-deep-dive"}
OPENING = "You are a brilliant interviewer. The question and assessment points are provided below."


def pack_data(**changes: Any) -> dict[str, Any]:
    """A minimal valid pack as YAML data, with top-level keys replaced (None deletes)."""
    data: dict[str, Any] = {
        "title": "Test pack",
        "description": "A pack for tests.",
        "language": "en",
        "system_prompt": "Interview for {pack_title} in {language}.\n{question}\n{assessment_points}",
        "questions": [
            {"id": "first", "question": "What did you build?", "assessment": ["Is specific."]},
            {"question": "What went wrong?", "personalise": False, "assessment": ["Owns it.", "Learns."]},
        ],
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def write(path: Path, content: dict[str, Any] | str) -> Path:
    text = (
        content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(PackError) as caught:
        load_pack_file(path)
    return caught.value.message


# --------------------------------------------------------------------------- built-in packs


def test_builtin_packs_all_load_and_are_valid() -> None:
    """Every shipped pack loads, and the four product packs are there with their languages."""
    registry = PackRegistry.load([BUILTIN_PACKS_DIR])
    assert {pack.id for pack in registry.all()} >= BUILTIN_IDS
    assert registry.get("general-behavioural-ko").language == "ko"
    for pack_id in BUILTIN_IDS - {"general-behavioural-ko"}:
        assert registry.get(pack_id).language == "en"
    for path, outcome in validate_paths([BUILTIN_PACKS_DIR]):
        assert isinstance(outcome, Pack), f"{path}: {outcome}"


def test_builtin_packs_meet_the_product_brief() -> None:
    """Built-in packs have the required opening, question counts, placeholders and personalisation."""
    registry = PackRegistry.load([BUILTIN_PACKS_DIR])
    sizes = {"general-behavioural": (6, 8), "backend-engineer": (6, 8), "cv-deep-dive": (5, 6)}
    for pack_id, (low, high) in sizes.items():
        pack = registry.get(pack_id)
        assert low <= len(pack.questions) <= high, pack_id
        assert pack.system_prompt.startswith(OPENING), pack_id
    for pack_id in BUILTIN_IDS:
        pack = registry.get(pack_id)
        assert "{question}" in pack.system_prompt
        assert "{assessment_points}" in pack.system_prompt
        rendered = pack.render_system_prompt(pack.questions[0])
        assert pack.questions[0].question in rendered
        assert "{" not in rendered, pack_id
    assert all(question.personalise for question in registry.get("cv-deep-dive").questions)
    korean = registry.get("general-behavioural-ko")
    english = registry.get("general-behavioural")
    assert korean.system_prompt.startswith("당신은 뛰어난 면접관입니다.")
    assert "한국어" in korean.system_prompt
    assert [q.id for q in korean.questions] == [q.id for q in english.questions]


# --------------------------------------------------------------------------- error messages


@pytest.mark.parametrize(
    ("content", "field", "fragment"),
    [
        pytest.param(pack_data(title=None), "title", "is required", id="missing-field"),
        pytest.param(
            pack_data(followups={"max_per_question": "2"}),
            "followups.max_per_question",
            "must be a whole number",
            id="bad-type",
        ),
        pytest.param(pack_data(language=["en"]), "language", "must be text, not a list", id="bad-type-list"),
        pytest.param(
            pack_data(system_prompt="Hello {candidate_name}"),
            "system_prompt",
            "unknown placeholder {candidate_name}",
            id="unknown-placeholder",
        ),
        pytest.param(
            pack_data(system_prompt='Reply in JSON like {"a": 1}'),
            "system_prompt",
            "unknown placeholder",
            id="unescaped-brace",
        ),
        pytest.param(
            pack_data(
                questions=[
                    {"question": "One?", "assessment": ["a"]},
                    {"id": "q1", "question": "Two?", "assessment": ["b"]},
                ]
            ),
            "questions.1.id",
            "duplicate question id 'q1'",
            id="duplicate-question-ids",
        ),
        pytest.param(pack_data(author="me"), "author", "unknown field", id="extra-key"),
        pytest.param(
            pack_data(questions=[{"question": "Q?", "assesment": ["a"]}]),
            "questions.0.assesment",
            "did you mean 'assessment'?",
            id="extra-key-typo",
        ),
        pytest.param(pack_data(questions=[]), "questions", "must have at least 1 item", id="empty-questions"),
        pytest.param(
            pack_data(questions=[{"question": "Q?", "assessment": []}]),
            "questions.0.assessment",
            "must have at least 1 item",
            id="empty-assessment",
        ),
        pytest.param(
            pack_data(questions=[{"question": "Q?", "assessment": ["ok", "   "]}]),
            "questions.0.assessment.1",
            "must not be empty",
            id="blank-assessment-point",
        ),
        pytest.param(pack_data(id="Backend_Engineer"), "id", "lowercase letters", id="bad-id"),
        pytest.param(pack_data(language="english!"), "language", "language code", id="bad-language"),
        pytest.param(pack_data(title="x" * 121), "title", "at most 120", id="too-long"),
        pytest.param(
            pack_data(questions=[{"question": "Q?", "assessment": ["a"]}] * 31),
            "questions",
            "at most 30",
            id="too-many-questions",
        ),
        pytest.param(
            pack_data(followups={"max_per_question": 6}),
            "followups.max_per_question",
            "at most 5",
            id="out-of-range",
        ),
    ],
)
def test_validation_errors_name_file_and_field(
    tmp_path: Path, content: dict[str, Any], field: str, fragment: str
) -> None:
    """Each kind of invalid pack is refused with 'file:line: field: what is wrong'."""
    path = write(tmp_path / "packs" / "broken.yaml", content)
    message = load_error(path)
    assert message.startswith(f"{path}:"), message
    assert f": {field}: " in message, message
    assert fragment in message, message


def test_bad_yaml_reports_line_and_column(tmp_path: Path) -> None:
    """A YAML syntax error names the file, its line and column."""
    path = write(tmp_path / "broken.yaml", "title: Test\ndescription: d\n  language: en\n")
    message = load_error(path)
    assert message.startswith(f"{path}:3:"), message
    assert "invalid YAML" in message


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    """A key written twice is an error, not a silent 'last one wins'."""
    path = write(tmp_path / "dup.yaml", "title: One\ndescription: d\ntitle: Two\n")
    message = load_error(path)
    assert f"{path}:3:" in message
    assert "duplicate key 'title' (first on line 1)" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("- just\n- a list\n", "top level must be a mapping", id="list"),
        pytest.param("plain text\n", "top level must be a mapping", id="scalar"),
        pytest.param("", "the file is empty", id="empty"),
        pytest.param("# only a comment\n", "the file is empty", id="comment-only"),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, fragment: str) -> None:
    """A file whose top level is not a mapping is refused with the file named."""
    path = write(tmp_path / "odd.yaml", text)
    message = load_error(path)
    assert message.startswith(str(path))
    assert fragment in message


def test_unreadable_files_are_reported(tmp_path: Path) -> None:
    """Missing files, directories and non-UTF-8 bytes give a PackError naming the path."""
    missing = tmp_path / "missing.yaml"
    assert load_error(missing) == f"{missing}: no such file"
    assert "is a directory" in load_error(tmp_path)
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes(b"title: ok\ndescription: caf\xe9\n")
    assert load_error(binary) == f"{binary}:2: is not UTF-8 text"


def test_validation_error_points_at_the_line(tmp_path: Path) -> None:
    """Validation problems carry the line of the offending key, sorted top to bottom."""
    text = textwrap.dedent(
        """\
        title: T
        description: d
        language: en
        system_prompt: "{question}"
        questions:
          - question: First?
            assessment: [ok]
          - question: Second?
            personalize: false
            assessment: []
        """
    )
    path = write(tmp_path / "lines.yaml", text)
    with pytest.raises(PackError) as caught:
        load_pack_file(path)
    lines = caught.value.message.splitlines()
    assert lines == [
        f"{path}:9: questions.1.personalize: unknown field; did you mean 'personalise'?",
        f"{path}:10: questions.1.assessment: must have at least 1 item",
    ]
    assert [problem.line for problem in caught.value.problems] == [9, 10]


def test_pack_error_is_a_bad_request() -> None:
    """PackError travels as the bad_request error code like any other client error."""
    with pytest.raises(PackError) as caught:
        parse_pack("questions: []", source="upload.yaml")
    assert isinstance(caught.value, BadRequest)
    assert caught.value.to_dict()["code"] == "bad_request"
    assert caught.value.message.startswith("upload.yaml:1: ")


# --------------------------------------------------------------------------- defaults and parsing


def test_defaults_id_from_file_stem_and_question_ids(tmp_path: Path) -> None:
    """Without ids, the pack is named after its file and questions are q1, q2... by position."""
    pack = load_pack_file(write(tmp_path / "my-pack.yml", pack_data()))
    assert pack.id == "my-pack"
    assert [q.id for q in pack.questions] == ["first", "q2"]
    assert pack.followups.max_per_question == 1
    assert pack.questions[0].personalise is True
    assert pack.questions[1].personalise is False


def test_invalid_file_stem_explains_the_default(tmp_path: Path) -> None:
    """A file name that is not a valid id asks for an explicit id."""
    message = load_error(write(tmp_path / "My Pack.yaml", pack_data()))
    assert ": id: " in message
    assert "defaults to the file name 'My Pack'" in message


def test_yaml_booleans_are_only_true_and_false() -> None:
    """`language: no` stays a string, and `personalise: yes` is refused rather than guessed."""
    pack = parse_pack(yaml.safe_dump(pack_data(id="norsk")).replace("language: en", "language: no"))
    assert pack.language == "no"
    text = yaml.safe_dump(pack_data(id="x")).replace("personalise: false", "personalise: yes")
    with pytest.raises(PackError, match=r"questions\.1\.personalise: must be true or false, not 'yes'"):
        parse_pack(text)


def test_strings_are_stripped_and_models_frozen() -> None:
    """Surrounding whitespace is removed, and a loaded pack cannot be changed."""
    pack = Pack.model_validate(pack_data(id="x", title="  Padded  "))
    assert pack.title == "Padded"
    with pytest.raises(ValidationError):
        pack.title = "Changed"  # type: ignore[misc]
    assert hash(pack) == hash(Pack.model_validate(pack_data(id="x", title="Padded")))


# --------------------------------------------------------------------------- registry


def test_later_directories_override_earlier_ones(tmp_path: Path) -> None:
    """An operator directory listed later replaces a built-in pack with the same id."""
    builtin = tmp_path / "builtin"
    operator = tmp_path / "operator"
    write(builtin / "alpha.yaml", pack_data(title="Built-in alpha"))
    write(builtin / "beta.yaml", pack_data(title="Built-in beta"))
    write(operator / "custom-alpha.yaml", pack_data(id="alpha", title="Operator alpha"))
    write(operator / "gamma.yaml", pack_data(title="Operator gamma"))

    registry = PackRegistry.load([builtin, operator])
    assert len(registry) == 3
    assert registry.get("alpha").title == "Operator alpha"
    assert registry.source("alpha") == operator / "custom-alpha.yaml"
    assert registry.get("beta").title == "Built-in beta"
    assert [p.id for p in registry.all()] == ["beta", "alpha", "gamma"]  # sorted by title

    assert PackRegistry.load([operator, builtin]).get("alpha").title == "Built-in alpha"


def test_operator_pack_overrides_a_builtin_pack(tmp_path: Path) -> None:
    """The real built-in directory can be overridden by id from an operator directory."""
    write(tmp_path / "mine.yaml", pack_data(id="backend-engineer", title="Our backend loop"))
    registry = PackRegistry.load([BUILTIN_PACKS_DIR, tmp_path])
    assert registry.get("backend-engineer").title == "Our backend loop"
    assert "cv-deep-dive" in registry


def test_registry_refuses_to_load_with_any_invalid_file(tmp_path: Path) -> None:
    """One invalid operator file stops the whole registry, naming every broken file."""
    write(tmp_path / "good.yaml", pack_data())
    write(tmp_path / "bad.yaml", pack_data(title=None))
    write(tmp_path / "worse.yml", "title: [unclosed\n")
    with pytest.raises(PackError) as caught:
        PackRegistry.load([BUILTIN_PACKS_DIR, tmp_path])
    message = caught.value.message
    assert f"{tmp_path / 'bad.yaml'}:1: title: is required but missing" in message
    assert str(tmp_path / "worse.yml") in message
    assert "good.yaml" not in message


def test_same_id_twice_in_one_directory_is_an_error(tmp_path: Path) -> None:
    """Two files in one directory may not claim the same id; only a later directory overrides."""
    write(tmp_path / "a.yaml", pack_data(id="same"))
    write(tmp_path / "b.yaml", pack_data(id="same"))
    with pytest.raises(PackError, match=r"b\.yaml: id: pack id 'same' is also used by a\.yaml"):
        PackRegistry.load([tmp_path])


def test_missing_pack_directory_is_an_error(tmp_path: Path) -> None:
    """A configured directory that does not exist is reported, not silently skipped."""
    missing = tmp_path / "nowhere"
    with pytest.raises(PackError, match="pack directory does not exist"):
        PackRegistry.load([BUILTIN_PACKS_DIR, missing])


def test_registry_skips_hidden_and_other_files(tmp_path: Path) -> None:
    """Only visible *.yaml and *.yml files are packs; editor backups and notes are ignored."""
    write(tmp_path / "real.yaml", pack_data())
    write(tmp_path / ".real.yaml", "not: [valid")
    write(tmp_path / "real.yaml~", "not: [valid")
    write(tmp_path / "README.md", "# notes")
    assert [p.id for p in PackRegistry.load([tmp_path]).all()] == ["real"]


def test_not_found_lists_known_ids(tmp_path: Path) -> None:
    """Asking for an unknown pack says which ids exist."""
    registry = PackRegistry([Pack.model_validate(pack_data(id=name)) for name in ("zeta", "alpha")])
    with pytest.raises(NotFound) as caught:
        registry.get("omega")
    assert caught.value.message == "No interview pack with id 'omega'. Known packs: alpha, zeta."
    assert "omega" not in registry
    assert "alpha" in registry
    with pytest.raises(NotFound, match="none are installed"):
        PackRegistry().get("alpha")


def test_validate_paths_reports_each_file(tmp_path: Path) -> None:
    """`hotseat packs validate` gets a result per file, for files and directories alike."""
    good = write(tmp_path / "dir" / "good.yaml", pack_data())
    bad = write(tmp_path / "dir" / "bad.yaml", pack_data(questions=[]))
    single = write(tmp_path / "single.yaml", pack_data())
    empty = tmp_path / "empty"
    empty.mkdir()
    results = dict(validate_paths([tmp_path / "dir", single, empty]))
    assert isinstance(results[good], Pack)
    assert isinstance(results[single], Pack)
    assert isinstance(results[bad], PackError)
    assert "questions: must have at least 1 item" in str(results[bad])
    assert isinstance(results[empty], PackError)
    assert "no *.yaml or *.yml files" in str(results[empty])


# --------------------------------------------------------------------------- rendering and API views


def test_render_system_prompt_fills_placeholders() -> None:
    """Placeholders are filled, assessment points become a bulleted list, and {{ }} are literal braces."""
    prompt = (
        "{pack_title} ({language})\nQ: {question}\nPoints:\n{assessment_points}\n"
        'Reply as {{"score": 1}}; keep {{question}} literal.'
    )
    pack = Pack.model_validate(pack_data(id="x", system_prompt=prompt))
    rendered = pack.render_system_prompt(pack.questions[1])
    assert rendered == (
        "Test pack (English)\nQ: What went wrong?\nPoints:\n- Owns it.\n- Learns.\n"
        'Reply as {"score": 1}; keep {question} literal.'
    )
    assert pack.render_system_prompt(None).startswith("Test pack (English)\nQ: \nPoints:\n\n")


def test_render_does_not_reinterpret_values() -> None:
    """Braces inside titles and questions are text, never placeholders."""
    question = {"question": "What does {language} mean in {x}?", "assessment": ["Uses {braces}."]}
    pack = Pack.model_validate(pack_data(id="x", title="C {brace} pack", language="ko", questions=[question]))
    rendered = pack.render_system_prompt(pack.questions[0])
    assert rendered.startswith("Interview for C {brace} pack in Korean.\n")
    assert "What does {language} mean in {x}?" in rendered
    assert "- Uses {braces}." in rendered


def test_placeholder_rules() -> None:
    """Only the four bare placeholders are allowed; no attributes, format specs or stray braces."""
    assert placeholder_problem(" ".join("{" + name + "}" for name in PLACEHOLDERS)) is None
    assert placeholder_problem("{{literal}} and {{ }}") is None
    for bad in ("{}", "{question.__class__}", "{question[0]}", "{question:>10}", "{question!r}", "}", "{"):
        assert placeholder_problem(bad) is not None, bad


def test_api_views_hide_only_the_system_prompt() -> None:
    """pack_summary lists a pack; pack_detail shows questions and assessment points but no system prompt."""
    pack = Pack.model_validate(pack_data(id="x"))
    assert pack_summary(pack) == {
        "id": "x",
        "title": "Test pack",
        "description": "A pack for tests.",
        "language": "en",
        "question_count": 2,
    }
    public = pack_detail(pack)
    assert "system_prompt" not in public
    assert public["followups"] == {"max_per_question": 1}
    assert public["questions"][1] == {
        "id": "q2",
        "question": "What went wrong?",
        "personalise": False,
        "assessment": ["Owns it.", "Learns."],
    }
    assert pack.question("q2") is pack.questions[1]
    with pytest.raises(NotFound, match="Its questions: first, q2"):
        pack.question("q3")


# --------------------------------------------------------------------------- documentation

DOCS = Path(__file__).resolve().parents[2] / "docs" / "packs.md"


def test_docs_example_is_a_valid_pack() -> None:
    """The annotated example in docs/packs.md loads, with the defaults the docs describe."""
    text = DOCS.read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    pack = parse_pack(example, source="docs/packs.md", default_id="unused")
    assert pack.id == "data-engineer"
    assert [q.id for q in pack.questions] == ["pipeline", "q2"]
    assert "literal braces doubled, like this: { and }." in pack.render_system_prompt(pack.questions[0])


def test_docs_mention_every_field_and_placeholder() -> None:
    """docs/packs.md documents every field of every model and every placeholder."""
    text = DOCS.read_text(encoding="utf-8")
    for model in (Pack, Question, FollowupPolicy):
        for name in model.model_fields:
            assert f"`{name}`" in text, f"{model.__name__}.{name} is not documented"
    for name in PLACEHOLDERS:
        assert f"`{{{name}}}`" in text
