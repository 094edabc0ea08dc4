"""``policygen pin --verify``: has any pinned tag moved since it was pinned?

Every ``repo:tag@digest`` in the manifests, and every entry of a lock file,
is resolved again; a tag that now points to another digest is the scraper
incident (a tag overwritten in the registry), caught in CI. With a lock
file, a tag in a manifest that the lock does not hold is stale too. Nothing
is written. Images pinned by digest alone carry no tag to check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from policygen import imageref, pinlock
from policygen.errors import PolicygenError, RegistryError
from policygen.pathfilter import files_on_disk
from policygen.pin import Resolver, sites


@dataclass(frozen=True)
class Check:
    """One pinned tag, resolved again."""

    source: str  # the manifest or lock file
    line: int
    container: str  # "" for a lock entry
    image: str  # as written
    pinned: str
    current: str | None = None  # what the tag resolves to now
    problem: str | None = None  # why it could not be resolved
    unlocked: bool = False  # a tag in a manifest that the lock file lacks

    @property
    def tagged(self) -> str:
        """The image as written, without its digest."""
        return self.image.rsplit("@", 1)[0]

    @property
    def status(self) -> str:
        if self.unlocked:
            return "unlocked"
        if self.problem is not None:
            return "error"
        return "ok" if self.current == self.pinned else "moved"


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files that could not be read

    @property
    def stale(self) -> list[Check]:
        """Tags that moved, and tags the lock file does not hold."""
        return [c for c in self.checks if c.status in ("moved", "unlocked")]

    @property
    def errors(self) -> list[str]:
        return self.problems + [
            f"{c.source}:{c.line}: {c.problem}" for c in self.checks if c.problem is not None
        ]

    def summary(self) -> dict[str, int]:
        statuses = [c.status for c in self.checks]
        return {
            "checked": len(statuses),
            "ok": statuses.count("ok"),
            "moved": statuses.count("moved"),
            "unlocked": statuses.count("unlocked"),
            "errors": len(self.errors),
        }


def verify(paths: list[str], resolve: Resolver, lock: Path | None = None) -> VerifyReport:
    report = VerifyReport()
    cache: dict[str, str | RegistryError] = {}

    def check(
        source: str, line: int, container: str, image: str, ref: imageref.ImageRef, pinned: str
    ) -> None:
        key = f"{ref.name}:{ref.tag}"
        if key not in cache:
            try:
                cache[key] = resolve(ref)
            except RegistryError as exc:
                cache[key] = exc
        now = cache[key]
        if isinstance(now, RegistryError):
            report.checks.append(Check(source, line, container, image, pinned, problem=str(now)))
        else:
            report.checks.append(Check(source, line, container, image, pinned, current=now))

    entries = pinlock.read(lock) if lock is not None else []
    locked = {e.reference for e in entries}
    for name in files_on_disk(paths, report.problems, "give files or folders to verify, not stdin"):
        try:
            text = Path(name).read_bytes().decode("utf-8")
            found = sites(text, name)
        except (OSError, UnicodeDecodeError) as exc:
            report.problems.append(f"{name}: cannot read: {exc}")
            continue
        except PolicygenError as exc:
            report.problems.append(str(exc))
            continue
        for site in found:
            ref = imageref.try_parse(site.image)
            if ref is not None and ref.tag is not None and ref.digest is not None:
                check(name, site.line, site.container, site.image, ref, ref.digest)
            elif (
                lock is not None
                and ref is not None
                and ref.digest is None
                and f"{ref.name}:{ref.tag or 'latest'}" not in locked
            ):
                report.checks.append(
                    Check(name, site.line, site.container, site.image, "", unlocked=True)
                )
    if lock is not None:
        if not lock.exists():
            report.problems.append(f"{lock}: no such lock file")
        for entry in entries:
            ref = imageref.parse(entry.reference)
            check(str(lock), entry.line, "", entry.reference, ref, entry.digest)
    return report
