"""``policygen pin``: resolve image tags to digests and rewrite manifests in
place, keeping comments, quoting and layout.

Only the image scalars change: each is found with its position in the
text, replaced by ``repo:tag@sha256:…``, and the result is parsed again and
compared with the original, image for image and everything else equal,
before it replaces the file atomically. A file with any image that cannot
be resolved is left untouched; the other files are still pinned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policygen import atomic, imageref, yamlsafe
from policygen.errors import PolicygenError, RegistryError
from policygen.pathfilter import files_on_disk
from policygen.workloads import CONTAINER_LISTS, POD_SPEC_PATHS, VOLUMES, pod_spec


@dataclass(frozen=True)
class Site:
    """One image scalar in a file."""

    line: int
    start: int  # character offsets of the scalar's text, quotes excluded
    end: int
    image: str
    container: str


@dataclass(frozen=True)
class Change:
    path: str
    site: Site
    pinned: str


@dataclass
class PinReport:
    changes: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files_written: list[str] = field(default_factory=list)


Resolver = Callable[[imageref.ImageRef], str]


def sites(text: str, source: str) -> list[Site]:
    """Every container and image-volume image in the file's workloads, with
    its position. The file is read with :mod:`policygen.yamlsafe` first, so
    that its limits, duplicate keys and tags are what ``scan`` says about it."""
    try:
        for _ in yamlsafe.parse(text, kube=True):
            pass
    except yamlsafe.YamlProblem as exc:
        raise PolicygenError(f"{source}:{exc.line}:{exc.column}: {exc.text}") from None
    loader = yaml.SafeLoader(text)
    out: list[Site] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                out.extend(_workload_sites(node, text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicygenError(f"{where}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    return sorted(out, key=lambda site: site.start)


def _get(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.Node):
            return v
    return None


def _workload_sites(node: yaml.Node, text: str) -> Iterator[Site]:
    kind = _get(node, "kind")
    kind_name = kind.value if isinstance(kind, yaml.ScalarNode) else ""
    items = _get(node, "items")
    if kind_name.endswith("List") and isinstance(items, yaml.SequenceNode):
        for item in items.value:
            yield from _workload_sites(item, text)
        return
    spec: yaml.Node | None = node
    for key in POD_SPEC_PATHS.get(kind_name, ()):
        spec = _get(spec, key) if spec is not None else None
    if kind_name not in POD_SPEC_PATHS or spec is None:
        return
    for c, image in _image_nodes(spec):
        name = _get(c, "name")
        start, end = image.start_mark.index, image.end_mark.index
        if image.style in ("'", '"'):
            start, end = start + 1, end - 1
        elif image.style in ("|", ">"):
            continue  # a block scalar image is left as written
        if text[start:end] != image.value:
            continue  # escapes or folding: not safe to splice
        yield Site(
            image.start_mark.line + 1,
            start,
            end,
            image.value,
            name.value if isinstance(name, yaml.ScalarNode) else "",
        )


def _image_nodes(spec: yaml.Node) -> Iterator[tuple[yaml.Node, yaml.ScalarNode]]:
    """(container or volume, its image scalar): a container's ``image``, an
    image volume's ``image.reference``."""
    for list_name in CONTAINER_LISTS:
        containers = _get(spec, list_name)
        if isinstance(containers, yaml.SequenceNode):
            for c in containers.value:
                image = _get(c, "image")
                if isinstance(image, yaml.ScalarNode):
                    yield c, image
    volumes = _get(spec, VOLUMES)
    if isinstance(volumes, yaml.SequenceNode):
        for v in volumes.value:
            source = _get(v, "image")
            reference = _get(source, "reference") if source is not None else None
            if isinstance(reference, yaml.ScalarNode):
                yield v, reference


def pin_paths(paths: list[str], resolve: Resolver, *, dry_run: bool = False) -> PinReport:
    report = PinReport()
    resolved: dict[str, str] = {}
    for name in files_on_disk(paths, report.problems, "stdin cannot be rewritten in place"):
        _pin_file(Path(name), resolve, resolved, report, dry_run)
    return report


def _pin_file(
    path: Path, resolve: Resolver, cache: dict[str, str], report: PinReport, dry_run: bool
) -> None:
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.problems.append(f"{path}: cannot read: {exc}")
        return
    try:
        found = sites(text, str(path))
    except PolicygenError as exc:
        report.problems.append(str(exc))
        return
    changes: list[Change] = []
    failed = False
    for site in found:
        ref = imageref.try_parse(site.image)
        if ref is None or ref.digest:
            continue  # pinned already, or not an image reference to resolve
        try:
            if site.image not in cache:
                cache[site.image] = resolve(ref)
        except RegistryError as exc:
            report.problems.append(f"{path}:{site.line}: {exc}")
            failed = True
            continue
        changes.append(Change(str(path), site, f"{site.image}@{cache[site.image]}"))
    if failed or not changes:
        if failed and changes:
            report.problems.append(f"{path}: left unchanged, since not every image resolved")
        return
    new_text = _splice(text, changes)
    _verify(text, new_text, changes, path)
    if not dry_run:
        try:
            atomic.write_text(path, new_text)
        except atomic.WriteError as exc:
            report.problems.append(str(exc))
            return
        report.files_written.append(str(path))
    report.changes.extend(changes)


def _splice(text: str, changes: list[Change]) -> str:
    for change in sorted(changes, key=lambda c: c.site.start, reverse=True):
        text = text[: change.site.start] + change.pinned + text[change.site.end :]
    return text


def _verify(old: str, new: str, changes: list[Change], path: Path) -> None:
    """The new text has exactly the pinned images where the old had tags,
    and is otherwise the same documents; if not, nothing is written (that
    would be a bug in policygen, not bad input)."""
    pinned = {c.site.start: c.pinned for c in changes}
    want = [pinned.get(site.start, site.image) for site in sites(old, str(path))]
    have = [site.image for site in sites(new, str(path))]
    same_rest = [_blanked(d) for d, _ in yamlsafe.parse(old, kube=True)] == [
        _blanked(d) for d, _ in yamlsafe.parse(new, kube=True)
    ]
    if want != have or not same_rest:
        raise AssertionError(f"{path}: pinning would change more than the images; not written")


def _blanked(doc: Any) -> Any:
    """The document with its workloads' container images blanked out."""
    if not isinstance(doc, dict):
        return doc
    if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
        return {**doc, "items": [_blanked(i) for i in doc["items"]]}
    spec = pod_spec(doc)
    if spec is None:
        return doc
    for name in CONTAINER_LISTS:
        for c in spec.get(name) or []:
            if isinstance(c, dict) and "image" in c:
                c["image"] = ""
    for v in spec.get(VOLUMES) or []:
        source = v.get("image") if isinstance(v, dict) else None
        if isinstance(source, dict) and "reference" in source:
            source["reference"] = ""
    return doc
