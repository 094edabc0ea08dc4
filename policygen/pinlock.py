"""The pin lock file: which digest each tag resolved to, and when.

For repositories that keep tags in their manifests: ``policygen pin --lock
FILE`` records every tag it resolves, and ``policygen pin --verify --lock
FILE`` resolves each recorded tag again and says which ones moved. The file
is YAML written by policygen alone, sorted, one entry per image and tag::

    version: 1
    images:
    - image: harbor.corp.example/infra/scraper
      tag: "27.15"
      digest: sha256:…
      resolvedAt: "2026-12-01T20:48:24Z"
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from policygen import atomic, imageref
from policygen.errors import PolicygenError
from policygen.registry import DIGEST

VERSION = 1
HEADER = (
    "# Written by `policygen pin --lock`; checked by `policygen pin --verify --lock`.\n"
    "# The digest each tag resolved to, and when. Edit with policygen, not by hand.\n"
)
FIELDS = ("image", "tag", "digest", "resolvedAt")


@dataclass(frozen=True)
class Entry:
    image: str  # the normalised repository, domain/path
    tag: str
    digest: str
    resolved_at: str  # RFC 3339, UTC
    line: int = 0  # where it is in the lock file, once read

    @property
    def reference(self) -> str:
        return f"{self.image}:{self.tag}"


def entry(image: str, pinned: str, resolved_at: str) -> Entry:
    """The entry for ``image`` (as written, with a tag or none) pinned as
    ``pinned`` (``image@digest``)."""
    ref = imageref.parse(image)
    return Entry(ref.name, ref.tag or "latest", pinned.rsplit("@", 1)[1], resolved_at)


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def read(path: Path) -> list[Entry]:
    """The entries of a lock file; none if it does not exist yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8"
        raise PolicygenError(f"{path}: cannot read the lock file: {reason}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PolicygenError(f"{where}: the lock file is not valid YAML") from None
    if root is None:
        return []

    def bad(node: yaml.Node, message: str) -> PolicygenError:
        return PolicygenError(f"{path}:{node.start_mark.line + 1}: {message}")

    if not isinstance(root, yaml.MappingNode):
        raise bad(root, "a lock file is a mapping with version and images")
    top = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
    version = top.get("version")
    if not isinstance(version, yaml.ScalarNode) or version.value != str(VERSION):
        raise bad(version or root, f"version: policygen reads lock files of version {VERSION}")
    images = top.get("images")
    if images is None:
        return []
    if not isinstance(images, yaml.SequenceNode):
        raise bad(images, "images: a list of entries")
    out = []
    for node in images.value:
        fields = (
            {k.value: v.value for k, v in node.value if isinstance(v, yaml.ScalarNode)}
            if isinstance(node, yaml.MappingNode)
            else {}
        )
        missing = [f for f in FIELDS if not isinstance(fields.get(f), str) or not fields[f]]
        if missing:
            raise bad(node, f"images: an entry needs {', '.join(missing)}")
        ref = imageref.try_parse(f"{fields['image']}:{fields['tag']}")
        if ref is None or ref.name != fields["image"]:
            raise bad(node, f"image: {fields['image']}:{fields['tag']} is not a normalised image")
        if not DIGEST.match(fields["digest"]):
            raise bad(node, f"digest: {fields['digest']!r} is not a digest")
        out.append(
            Entry(
                fields["image"],
                fields["tag"],
                fields["digest"],
                fields["resolvedAt"],
                node.start_mark.line + 1,
            )
        )
    return out


def merged(old: Iterable[Entry], new: Iterable[Entry]) -> list[Entry]:
    """``old`` with ``new`` replacing the entries of the same image and tag
    whose digest changed: ``resolvedAt`` is when the tag was first seen at
    its digest, so pinning again does not churn the file."""
    by_key = {(e.image, e.tag): e for e in old}
    for e in new:
        if (e.image, e.tag) not in by_key or by_key[(e.image, e.tag)].digest != e.digest:
            by_key[(e.image, e.tag)] = e
    return [by_key[k] for k in sorted(by_key)]


def render(entries: Iterable[Entry]) -> str:
    lines = [HEADER + f"version: {VERSION}", "images:"]
    for e in sorted(entries, key=lambda e: (e.image, e.tag)):
        # JSON strings are YAML double-quoted scalars: a tag like 1.0 stays a string
        lines.append(f"- image: {json.dumps(e.image)}")
        lines.append(f"  tag: {json.dumps(e.tag)}")
        lines.append(f"  digest: {json.dumps(e.digest)}")
        lines.append(f"  resolvedAt: {json.dumps(e.resolved_at)}")
    if len(lines) == 2:
        lines[-1] = "images: []"
    return "\n".join(lines) + "\n"


def update(path: Path, old: list[Entry], new: Iterable[Entry]) -> bool:
    """Record ``new`` in the lock file that held ``old`` (read before
    anything was pinned, so a bad lock file stops pin before it writes);
    whether the file changed."""
    entries = merged(old, new)
    if entries == sorted(old, key=lambda e: (e.image, e.tag)):
        return False
    try:
        atomic.write_text(path, render(entries))
    except OSError as exc:
        raise PolicygenError(f"{path}: cannot write the lock file: {exc.strerror}") from None
    return True
