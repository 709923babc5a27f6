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

The package has one module per job: ``model`` (the pack and its limits), ``yaml_source`` (the
strict YAML loader and line numbers), ``problems`` (PackError and the wording of every problem),
``loading`` (files and directories), ``registry`` (the packs by id).
"""

from hotseat.interview.packs.loading import (
    BUILTIN_PACKS_DIR,
    MAX_FILE_BYTES,
    PACK_SUFFIXES,
    load_pack_file,
    parse_pack,
    validate_paths,
)
from hotseat.interview.packs.model import (
    LANGUAGE_NAMES,
    MAX_ASSESSMENT_POINTS,
    MAX_FOLLOWUPS,
    MAX_QUESTIONS,
    MAX_SIGNALS,
    PLACEHOLDERS,
    FollowupPolicy,
    Pack,
    Point,
    Question,
    language_name,
    placeholder_problem,
)
from hotseat.interview.packs.problems import MAX_REPORTED_PROBLEMS, PackError, PackProblem
from hotseat.interview.packs.registry import PackRegistry

__all__ = [
    "BUILTIN_PACKS_DIR",
    "LANGUAGE_NAMES",
    "MAX_ASSESSMENT_POINTS",
    "MAX_FILE_BYTES",
    "MAX_FOLLOWUPS",
    "MAX_QUESTIONS",
    "MAX_REPORTED_PROBLEMS",
    "MAX_SIGNALS",
    "PACK_SUFFIXES",
    "PLACEHOLDERS",
    "FollowupPolicy",
    "Pack",
    "PackError",
    "PackProblem",
    "PackRegistry",
    "Point",
    "Question",
    "language_name",
    "load_pack_file",
    "parse_pack",
    "placeholder_problem",
    "validate_paths",
]
