"""Where in a file each container's image is written, for reports that point
at a line (SARIF regions).

The scan reads objects without positions (fast); a report that needs lines
composes the file again, once, only when it has a finding in it. Documents
are counted as ``manifests`` counts them, so ``file.yaml#3.items[1]`` names
the same object here.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import yaml

from policygen.kubeyaml import KubeLoader
from policygen.workloads import CONTAINER_LISTS, POD_SPEC_PATHS, VOLUMES

#: source suffix ("#3", "#3.items[1]") → container name → 1-based line
Lines = dict[str, dict[str, int]]


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            found: yaml.Node = v
            return found
    return None


def container_lines(obj: yaml.Node) -> dict[str, int]:
    """Container (or image volume) name → the line of its image reference
    (of the entry when the image is missing), for a Pod or pod controller
    node."""
    kind = _get(obj, "kind")
    path = POD_SPEC_PATHS.get(kind.value if isinstance(kind, yaml.ScalarNode) else "")
    node: yaml.Node | None = obj
    for key in path or ():
        node = _get(node, key)
    out: dict[str, int] = {}
    if path is None or node is None:
        return out
    for list_name in CONTAINER_LISTS:
        items = _get(node, list_name)
        if not isinstance(items, yaml.SequenceNode):
            continue
        for item in items.value:
            name = _get(item, "name")
            image = _get(item, "image") or item
            if isinstance(name, yaml.ScalarNode):
                out.setdefault(name.value, image.start_mark.line + 1)
    volumes = _get(node, VOLUMES)
    for item in volumes.value if isinstance(volumes, yaml.SequenceNode) else ():
        name, image = _get(item, "name"), _get(item, "image")
        if isinstance(name, yaml.ScalarNode) and image is not None:
            reference = _get(image, "reference") or image
            out.setdefault(name.value, reference.start_mark.line + 1)
    return out


def file_lines(path: str) -> Lines:
    """Every workload's container lines in a file; empty when it cannot be
    read again (stdin, or changed since)."""
    if path == "<stdin>":
        return {}
    out: Lines = {}
    try:
        with Path(path).open("rb") as stream:
            loader = KubeLoader(stream)
            try:
                index = 0
                while loader.check_node():
                    node = loader.get_node()
                    index += 1
                    if node is None:
                        continue
                    out[f"#{index}"] = container_lines(node)
                    items = _get(node, "items")
                    if isinstance(items, yaml.SequenceNode):
                        for i, item in enumerate(items.value):
                            out[f"#{index}.items[{i}]"] = container_lines(item)
            finally:
                loader.dispose()
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        pass  # what was found before the problem stays usable
    return out


class Locator:
    """Image lines for results as they stream by, a few files at a time."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self.files: OrderedDict[str, Lines] = OrderedDict()

    def line(self, source: str, container: str) -> int | None:
        path, sep, suffix = source.rpartition("#")
        if not sep:
            return None
        if path not in self.files:
            self.files[path] = file_lines(path)
            if len(self.files) > self.keep:
                self.files.popitem(last=False)
        self.files.move_to_end(path)
        return self.files[path].get("#" + suffix, {}).get(container)
