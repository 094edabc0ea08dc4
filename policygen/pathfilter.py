"""Which files a scan reads: ignore globs, folder walks, and the files of a
GitOps repository that are not manifests yet (Helm chart templates,
kustomize patches).

Ignore globs follow .gitignore's shape, a subset of it: ``*`` and ``?`` stay
within a path segment, ``**`` spans segments, a pattern with no ``/`` (other
than a trailing one) matches a file or folder name at any depth, a pattern
with a ``/`` is anchored at its base folder (the working directory for
``--ignore``, the config's folder for ``spec.scan.ignore``), and a trailing
``/`` matches folders only. Ignoring a folder ignores everything below it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

SUFFIXES = (".yaml", ".yml", ".json")
#: Folders never worth reading: version control internals.
NEVER = frozenset({".git", ".hg", ".svn"})


def _translate(glob: str) -> str:
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif glob.startswith("**", i):
            out += ".*"
            i += 2
        elif glob[i] == "*":
            out += "[^/]*"
            i += 1
        elif glob[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(glob[i])
            i += 1
    return out


@dataclass(frozen=True)
class Pattern:
    text: str
    base: Path
    regex: re.Pattern[str] = field(compare=False)

    @classmethod
    def compile(cls, text: str, base: Path) -> Pattern:
        body = text.strip()
        folders_only = body.endswith("/")
        body = body.rstrip("/")
        anchored = "/" in body
        body = body.lstrip("/")
        core = _translate(body)
        prefix = "" if anchored else "(?:.*/)?"
        # A folder's match covers what is below it; a folder-only pattern
        # matches only as a prefix of a longer path.
        suffix = "/.*" if folders_only else "(?:/.*)?"
        return cls(text, base, re.compile(prefix + core + suffix))

    def matches(self, path: Path, is_dir: bool = False) -> bool:
        rel = os.path.relpath(path.absolute(), self.base.absolute()).replace(os.sep, "/")
        return bool(self.regex.fullmatch(rel + "/" if is_dir else rel))


@dataclass(frozen=True)
class Ignore:
    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def of(cls, *groups: tuple[Iterable[str], Path]) -> Ignore:
        return cls(tuple(Pattern.compile(p, base) for globs, base in groups for p in globs))

    def match(self, path: Path, is_dir: bool = False) -> Pattern | None:
        for pattern in self.patterns:
            if pattern.matches(path, is_dir):
                return pattern
        return None


NO_IGNORE = Ignore()

#: Why something was left out: a file by an ignore glob, a Helm chart's
#: template file, a YAML document that is not a Kubernetes object, a
#: kustomize file or patch, a Kubernetes object that runs no containers.
SkipReason = Literal["ignored", "helm-template", "not-kubernetes", "kustomize", "not-a-workload"]


@dataclass(frozen=True)
class Entry:
    """A path to read, or one left out and why."""

    path: str
    #: None to read it; else "ignored", "helm-template" or "kustomize"
    skip: SkipReason | None = None
    detail: str = ""
    #: why it cannot be read (an unreadable folder, a symlink loop): reported
    problem: str = ""


def entries(paths: list[str], ignore: Ignore = NO_IGNORE) -> Iterator[Entry]:
    """The files to read, in order, and the ones left out. A file named
    explicitly is read even without a YAML suffix, unless ignored."""
    cache: dict[Path, Any] = {}
    for raw in paths:
        if raw == "-":
            yield Entry(raw)
            continue
        path = Path(raw)
        if path.is_dir():
            yield from _walk(path, ignore, cache)
        else:
            yield _entry(path, ignore, cache)


def files_on_disk(paths: list[str], problems: list[str], stdin_problem: str) -> Iterator[str]:
    """The manifest files under ``paths`` that a command reads from disk (pin rewrites them,
    pin --verify reads their lines): unreadable entries and stdin are noted in ``problems``;
    a Helm chart's templates are left out, as they are not manifests yet."""
    for entry in entries(paths):
        if entry.problem:
            problems.append(f"{entry.path}: {entry.problem}")
        elif entry.skip is not None:
            continue
        elif entry.path == "-":
            problems.append(f"-: {stdin_problem}")
        else:
            yield entry.path  # as given, so messages name the file as the user did


def _walk(
    folder: Path, ignore: Ignore, cache: dict[Path, Any], above: frozenset[str] = frozenset()
) -> Iterator[Entry]:
    # Names in sorted order, folders entered where they sort: the order of
    # sorted(folder.rglob("*")), without entering ignored folders. Symlinked
    # folders are followed, except back into a folder being walked (a loop).
    real = os.path.realpath(folder)
    above = above | {real}
    try:
        children = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        yield Entry(str(folder), problem=f"cannot read the folder: {exc.strerror}")
        return
    for child in children:
        path = folder / child.name
        try:
            is_dir, is_file = child.is_dir(), child.is_file()
        except OSError:  # a symlink loop: neither, reported below
            is_dir = is_file = False
        if is_dir:
            if child.name in NEVER:
                continue
            pattern = ignore.match(path, is_dir=True)
            if pattern is not None:
                yield Entry(str(path), "ignored", pattern.text)
            elif child.is_symlink() and os.path.realpath(path) in above:
                target = os.path.realpath(path)
                yield Entry(str(path), problem=f"symlink loop (back to {target}), not followed")
            else:
                yield from _walk(path, ignore, cache, above)
        elif is_file and child.name.endswith(SUFFIXES):
            yield _entry(path, ignore, cache)
        elif child.is_symlink() and child.name.endswith(SUFFIXES):
            try:
                os.stat(path)
            except OSError as exc:  # a loop (ELOOP) or a dangling link
                yield Entry(str(path), problem=f"cannot read: {exc.strerror}")


def _entry(path: Path, ignore: Ignore, cache: dict[Path, Any]) -> Entry:
    pattern = ignore.match(path)
    if pattern is not None:
        return Entry(str(path), "ignored", pattern.text)
    chart = helm_chart_of(path, cache)
    if chart is not None:
        return Entry(str(path), "helm-template", _shown(path, chart))
    if path.name in KUSTOMIZATION_NAMES:
        # with or without apiVersion/kind: kustomize's input, not an object
        return Entry(str(path), "kustomize", "a kustomization")
    kustomization = kustomize_patch_of(path, cache)
    if kustomization is not None:
        shown = _shown(path, kustomization.parent) + "/" + kustomization.name
        return Entry(str(path), "kustomize", f"a patch listed in {shown}")
    return Entry(str(path))


def _shown(path: Path, folder: Path) -> str:
    """``folder`` (an absolute parent of ``path``) written as ``path`` was:
    relative when it was given relative."""
    ups = len(path.absolute().parents) - len(folder.parents) - 1
    return str(path.parents[ups]) if ups < len(path.parents) else str(folder)


def helm_chart_of(path: Path, cache: dict[Path, Any]) -> Path | None:
    """The chart folder when ``path`` is one of its templates: Go templates
    are not YAML until ``helm template`` renders them."""
    for parent in path.absolute().parents:
        if parent.name != "templates":
            continue
        chart = parent.parent / "Chart.yaml"
        if chart not in cache:
            cache[chart] = chart.is_file()
        if cache[chart]:
            return chart.parent
    return None


KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomize_patch_of(path: Path, cache: dict[Path, Any]) -> Path | None:
    """The kustomization that lists ``path`` as a patch, looking in its
    folder and the folders above it. A patch is a fragment (``spec:
    {replicas: 3}`` of a Deployment), not an object the cluster receives."""
    target = path.absolute()
    for folder in target.parents:
        for name in KUSTOMIZATION_NAMES:
            found = folder / name
            if found not in cache:
                cache[found] = _patch_paths(found)
            if target in cache[found]:
                return found
    return None


def _patch_paths(kustomization: Path) -> frozenset[Path]:
    try:
        data = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return frozenset()  # not there, or reported when it is scanned itself
    if not isinstance(data, dict):
        return frozenset()
    listed: list[Any] = []
    for key in ("patches", "patchesJson6902"):
        items = data.get(key)
        if isinstance(items, list):
            listed += [i.get("path") for i in items if isinstance(i, dict)]
    merge = data.get("patchesStrategicMerge")
    if isinstance(merge, list):
        # entries are paths, or inline patches (which contain a newline)
        listed += [m for m in merge if isinstance(m, str) and "\n" not in m]
    base = kustomization.parent
    return frozenset(Path(os.path.normpath(base / p)) for p in listed if isinstance(p, str) and p)
