"""Writing so that a reader, or a kill at any moment, finds the old content
or the new, never half, and nothing of ours left beside it.

A file is written through a symlink to its target, keeps the target's mode
(and owner, where we may), and is staged as an unnamed file (``O_TMPFILE``)
that vanishes if the process dies; it gets a name only for the instant
between ``link`` and ``rename``, and a name left by a kill in that instant is
removed by the next write of the same file.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from policygen.errors import PolicygenError

#: Hidden names of our staging files: ``.<name>.policygen-<random>``.
STAGING = ".{}.policygen-"


class WriteError(PolicygenError):
    """The file system refused a write (full, read-only, no permission)."""


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def target_of(path: Path) -> Path:
    """The file a write to ``path`` should change: a symlink's target."""
    return Path(os.path.realpath(path))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    target = target_of(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(target)
        try:
            st: os.stat_result | None = os.stat(target)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise WriteError(f"{path}: not a regular file, not written")
        mode = stat.S_IMODE(st.st_mode) if st else 0o666 & ~umask()
        _replace(target, data, mode, st)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write: {exc.strerror or exc}; left as it was") from None


def clean_stale(target: Path) -> None:
    """Remove staging files a killed write of ``target`` left behind."""
    prefix = STAGING.format(target.name)
    with contextlib.suppress(OSError), os.scandir(target.parent) as it:
        for entry in it:
            if entry.name.startswith(prefix) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _replace(target: Path, data: bytes, mode: int, st: os.stat_result | None) -> None:
    fd, named = _staging_file(target, mode)
    try:
        if st is not None:
            with contextlib.suppress(OSError):  # only root may give a file away
                os.fchown(fd, st.st_uid, st.st_gid)
        os.fchmod(fd, mode)  # after fchown, which may clear set-id bits
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        if named is None:
            named = _name(fd, target)
        os.replace(named, target)
        named = None
        sync_dir(target.parent)
    finally:
        os.close(fd)
        if named is not None:
            with contextlib.suppress(OSError):
                os.unlink(named)


def _staging_file(target: Path, mode: int) -> tuple[int, str | None]:
    """An open file in the target's folder: unnamed when the file system can
    (``O_TMPFILE``), else a hidden name (cleaned by the next write)."""
    flags = getattr(os, "O_TMPFILE", 0)
    if flags and os.path.isdir("/proc/self/fd"):
        try:
            return os.open(target.parent, flags | os.O_WRONLY, mode), None
        except OSError:
            pass  # a file system without O_TMPFILE
    fd, name = tempfile.mkstemp(prefix=STAGING.format(target.name), dir=target.parent)
    return fd, name


def _name(fd: int, target: Path) -> str:
    """Give the unnamed file a hidden name next to the target, for rename.
    ``link`` through /proc needs ``linkat`` with AT_SYMLINK_FOLLOW, which
    os.link uses only when given a folder descriptor."""
    proc = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:
            name = str(target.parent / (STAGING.format(target.name) + secrets.token_hex(6)))
            try:
                os.link(str(fd), name, src_dir_fd=proc, follow_symlinks=True)
                return name
            except FileExistsError:
                continue
    finally:
        os.close(proc)


def sync_dir(folder: Path) -> None:
    """Make a rename durable (a crash after it must not bring the old file back)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def open_text(path: Path) -> Iterator[TextIO]:
    """A stream to write ``path`` through: the file is written (as
    write_bytes writes it), complete, when the block ends normally; on any
    error it is left as it was."""
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b") as held:
        text = io.TextIOWrapper(held, encoding="utf-8", newline="\n")
        yield text
        text.flush()
        held.seek(0)
        write_bytes(path, held.read())
        text.detach()


@contextmanager
def all_or_nothing(out: TextIO) -> Iterator[TextIO]:
    """A stream whose text reaches ``out`` only when the block ends
    normally: a report cut off by an error would still parse as something
    (a JSON prefix is no JSON, a SARIF file missing results passes as
    clean). Held in memory up to a few megabytes, then in a temporary file."""
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="utf-8") as held:
        yield held  # type: ignore[misc]
        held.seek(0)
        while chunk := held.read(1 << 16):
            out.write(chunk)
        out.flush()
