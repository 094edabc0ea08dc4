"""YAML reading that remembers where every value came from.

PyYAML's composer gives us nodes with marks; we build plain Python values from
them and keep a map from field path to (line, column), so that a pydantic error
at ``spec.tenants[1].registries[0]`` can be reported at its line. Duplicate keys
are an error here (PyYAML silently keeps the last one).
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Any

import yaml

from policygen.errors import InputError, Problem

Path = tuple[str | int, ...]
Positions = dict[Path, tuple[int, int]]

try:  # the C loader is several times faster for manifests
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader


_BOOL = "tag:yaml.org,2002:bool"


class LocatedYamlError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_with_positions(text: str, filename: str) -> tuple[Any, Positions]:
    """Load a single YAML document, returning the value and its positions."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise LocatedYamlError(
            [Problem(filename, line, col, "", f"invalid YAML: {exc.problem}")]
        ) from exc
    finally:
        loader.dispose()
    positions: Positions = {}
    problems: list[Problem] = []
    if node is None:
        return None, positions
    value = _build(loader, node, (), positions, problems, filename)
    if problems:
        raise LocatedYamlError(problems)
    return value, positions


def _build(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: Path,
    positions: Positions,
    problems: list[Problem],
    filename: str,
) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                problems.append(
                    Problem(
                        filename,
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                        _dotted(path + (key,)),
                        "duplicate key",
                    )
                )
                continue
            out[key] = _build(loader, value_node, path + (key,), positions, problems, filename)
            # A field is reported at its key: that is the line a user edits.
            positions[path + (key,)] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, path + (i,), positions, problems, filename)
            for i, item in enumerate(node.value)
        ]
    if (
        isinstance(node, yaml.ScalarNode)
        and node.tag == _BOOL
        and not node.style
        and node.value.lower() not in ("true", "false")
    ):
        # YAML 1.2: only true/false are booleans, so `action: off` means "off".
        return node.value
    return loader.construct_object(node, deep=True)


def position_of(positions: Positions, path: Path) -> tuple[int, int]:
    """The position of the deepest known prefix of ``path``."""
    for end in range(len(path), -1, -1):
        if path[:end] in positions:
            return positions[path[:end]]
    return (0, 0)


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted = _dotted


def load_all_fast(text: str) -> list[Any]:
    """All documents of a stream, with the C loader and no positions."""
    return list(yaml.load_all(text, Loader=_Loader))


def dump(data: Any) -> str:
    """Deterministic block YAML for rendered and generated files."""
    return yaml.dump(
        data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )


def read_objects(path: FilePath) -> list[dict[str, Any]]:
    """Every document of a file the user named as input to a command (a test
    suite, a policy, a fixture): all must be mappings; any problem is an
    InputError naming the file."""
    try:
        docs = load_all_fast(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.at(path, "", f"cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise InputError.at(path, "", f"invalid YAML: {exc}") from None
    objects = [d for d in docs if d is not None]
    if not all(isinstance(d, dict) for d in objects):
        raise InputError.at(path, "", "every document must be a mapping")
    return objects
