"""Pack files as YAML: a strict loader, and where in the file a field sits (for line numbers)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class PackLoader(yaml.SafeLoader):
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


PackLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
PackLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def line_of(root: yaml.Node, loc: Sequence[int | str]) -> int:
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


def is_scalar_at(root: yaml.Node, loc: Sequence[int | str]) -> bool:
    """Whether the node at ``loc`` is a plain value (a point written as text, not a mapping)."""
    node: yaml.Node | None = root
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            node = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return False
    return isinstance(node, yaml.ScalarNode)
