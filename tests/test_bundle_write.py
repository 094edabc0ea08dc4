"""Writing the bundle: nothing the user has is lost, and at every instant the
output path holds a whole bundle, whatever kills the build and wherever."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policygen import __version__, bundle
from policygen.bundle import BuildConflict, Bundle, OutputRefused, write
from policygen.errors import PolicygenError


def make(files: dict[str, str]) -> Bundle:
    lock = {
        "policygen": __version__,
        "files": {p: hashlib.sha256(t.encode()).hexdigest() for p, t in files.items()},
    }
    return Bundle({**files, bundle.LOCK_FILE: json.dumps(lock) + "\n"})


OLD = make({"kyverno/a.yaml": "old a\n", "kyverno/kustomization.yaml": "old k\n"})
NEW = make({"vap/b.yaml": "new b\n", "vap/c.yaml": "new c\n", "vap/kustomization.yaml": "k\n"})


def contents(out: Path) -> dict[str, str]:
    return bundle.on_disk(out)


def staging_left(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


# -- what may be replaced ------------------------------------------------------------


def test_absent_and_empty_folders_and_bundles_are_written(tmp_path: Path) -> None:
    out = tmp_path / "policies"
    write(OLD, out)
    assert contents(out) == OLD.files
    write(NEW, out)  # a bundle with other targets replaces it whole
    assert contents(out) == NEW.files
    empty = tmp_path / "empty"
    empty.mkdir()
    write(OLD, empty)
    assert contents(empty) == OLD.files
    assert staging_left(out) == [] and staging_left(empty) == []


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda out: (out.mkdir(), (out / "main.py").write_text("code")),
            "not empty and not a policygen bundle (no readable bundle.lock); "
            "not replaced: choose an empty or new folder",
        ),
        (
            lambda out: out.write_text("README"),
            "exists and is not a folder; not replaced",
        ),
        (
            lambda out: (write(OLD, out), (out / "README.md").write_text("mine")),
            "holds files that are not part of its bundle (README.md); not replaced: "
            "move them out first",
        ),
        (
            lambda out: (out.mkdir(), (out / "bundle.lock").write_text('{"not": "ours"}')),
            "not empty and not a policygen bundle (no readable bundle.lock); "
            "not replaced: choose an empty or new folder",
        ),
    ],
)
def test_anything_else_is_refused_and_kept(
    tmp_path: Path, setup: Callable[[Path], Any], message: str
) -> None:
    out = tmp_path / "out"
    setup(out)
    before = sorted((p.as_posix(), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    with pytest.raises(OutputRefused) as info:
        write(NEW, out)
    assert str(info.value) == f"-o {out}: {message}"
    assert info.value.exit_code == 2
    after = sorted((p.as_posix(), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    assert after == before


def test_the_current_folder_with_a_repository_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "policygen.yaml").write_text("x")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputRefused):
        write(NEW, Path("."))
    assert (tmp_path / "policygen.yaml").read_text() == "x"


def test_a_symlinked_output_is_written_where_it_points(tmp_path: Path) -> None:
    real = tmp_path / "real"
    write(OLD, real)
    link = tmp_path / "policies"
    link.symlink_to(real)
    write(NEW, link)
    assert link.is_symlink() and contents(real) == NEW.files


def test_the_bundle_folder_has_the_usual_mode(tmp_path: Path) -> None:
    old_mask = os.umask(0o022)
    try:
        out = tmp_path / "out"
        write(OLD, out)
        assert out.stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700
        out.chmod(0o750)
        write(NEW, out)
        assert out.stat().st_mode & 0o777 == 0o750  # a replaced bundle keeps its mode
    finally:
        os.umask(old_mask)


# -- faults and kills --------------------------------------------------------------


def test_a_full_disk_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write(OLD, out)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(PolicygenError) as info:
        write(NEW, out)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(f"cannot write the bundle to {out}: ")
    assert str(info.value).endswith(": No space left on device; the bundle there is unchanged")
    assert contents(out) == OLD.files and staging_left(out) == []


CRASH_POINTS = ("fsync", "rename", "chmod", "mkdir")


def killed_at(n: int, out: Path, *, exchange: bool = True) -> bool:
    """Run ``write(NEW, out)`` in a child that dies (``os._exit``, as SIGKILL
    would, no cleanup) at the n-th file system step; whether it died."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        calls = [0]

        def dying(f: Callable[..., Any]) -> Callable[..., Any]:
            def step(*args: Any, **kwargs: Any) -> Any:
                calls[0] += 1
                if calls[0] == n:
                    os._exit(9)
                return f(*args, **kwargs)

            return step

        for name in CRASH_POINTS:
            setattr(os, name, dying(getattr(os, name)))
        shutil.rmtree = dying(shutil.rmtree)  # type: ignore[assignment]
        real_exchange = bundle._exchange
        bundle._exchange = dying(real_exchange if exchange else lambda a, b: False)  # type: ignore[assignment]
        try:
            write(NEW, out)
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 9), f"the child failed at step {n} (exit {code})"
    return code == 9


def test_a_kill_at_any_step_leaves_a_whole_bundle_at_the_path(tmp_path: Path) -> None:
    out = tmp_path / "out"
    n = 0
    while True:
        n += 1
        shutil.rmtree(out, ignore_errors=True)
        write(OLD, out)
        died = killed_at(n, out)
        assert contents(out) in (OLD.files, NEW.files), f"killed at step {n}"
        write(NEW, out)  # the next build cleans what the killed one left
        assert contents(out) == NEW.files and staging_left(out) == []
        if not died:
            break
    assert n > 10  # every file's fsync, the chmod, the exchange and the cleanup were hit


def test_without_exchange_a_kill_between_the_renames_is_undone_next_time(tmp_path: Path) -> None:
    out = tmp_path / "out"
    gaps = 0
    n = 0
    while True:
        n += 1
        shutil.rmtree(out, ignore_errors=True)
        write(OLD, out)
        died = killed_at(n, out, exchange=False)
        if not out.exists():
            gaps += 1  # the moment two renames cannot avoid: the old bundle is aside
            (aside,) = [p for p in tmp_path.iterdir() if ".policygen-old-" in p.name]
            assert contents(aside / "bundle") == OLD.files
            bundle._recover(out)
            assert contents(out) == OLD.files
        else:
            assert contents(out) in (OLD.files, NEW.files)
        write(NEW, out)
        assert contents(out) == NEW.files and staging_left(out) == []
        if not died:
            break
    assert gaps == 1


def test_readers_always_find_a_whole_bundle(tmp_path: Path) -> None:
    """A reader that opens the output folder and reads every file its lock
    names, while builds swap bundles back and forth, never finds the path
    missing, nor a file missing or torn in the folder the path holds (a
    folder swapped away is then deleted: that is not what the path holds)."""
    out = tmp_path / "out"
    write(OLD, out)
    seen: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                seen.append("the path is missing")
                continue
            try:
                lock = json.loads(_read_at(fd, bundle.LOCK_FILE))
                for rel, digest in lock["files"].items():
                    if hashlib.sha256(_read_at(fd, rel).encode()).hexdigest() != digest:
                        raise ValueError(rel)
                seen.append("whole")
            except (OSError, ValueError) as exc:
                if os.fstat(fd).st_ino == os.stat(out).st_ino:
                    seen.append(f"broken at the path: {exc}")
            finally:
                os.close(fd)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(60):
            write(NEW if i % 2 == 0 else OLD, out)
    finally:
        done.set()
        thread.join()
    assert set(seen) == {"whole"} and len(seen) > 10


def _read_at(fd: int, rel: str) -> str:
    f = os.open(rel, os.O_RDONLY, dir_fd=fd)
    with os.fdopen(f, encoding="utf-8") as fh:
        return fh.read()


def test_a_second_build_at_the_same_time_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(OLD, out)
    with bundle._lock(out, out), pytest.raises(BuildConflict) as info:
        write(NEW, out)
    assert str(info.value) == (
        f"another policygen build is writing into {tmp_path} right now; "
        f"{out} is left to it (run again when it is done)"
    )
    assert contents(out) == OLD.files
