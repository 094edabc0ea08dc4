"""Writing one file in place: through symlinks, keeping its mode, nothing left
behind by a kill, and a refusal of the file system as a clear error."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policygen import atomic


def test_writes_through_a_symlink_to_its_target(tmp_path: Path) -> None:
    target = tmp_path / "real.yaml"
    target.write_text("old\n")
    link = tmp_path / "link.yaml"
    link.symlink_to("real.yaml")
    atomic.write_text(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == "real.yaml"
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.yaml", "real.yaml"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o755])
def test_keeps_the_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("old\n")
    path.chmod(mode)
    atomic.write_text(path, "new\n")
    assert path.stat().st_mode & 0o7777 == mode


def test_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "new.md", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "new.md").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_refusals_of_the_file_system_are_errors_and_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("old\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(atomic.WriteError) as info:
        atomic.write_text(path, "new\n")
    assert str(info.value) == f"{path}: cannot write: No space left on device; left as it was"
    assert info.value.exit_code == 2
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["m.yaml"]


def test_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(atomic.WriteError) as info:
        atomic.write_text(tmp_path, "x")
    assert str(info.value) == f"{tmp_path}: not a regular file, not written"


def killed_at(n: int, path: Path, text: str) -> bool:
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

        for name in ("open", "write", "fsync", "fchmod", "link", "replace"):
            setattr(os, name, dying(getattr(os, name)))
        try:
            atomic.write_text(path, text)
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 9), f"the child failed at step {n} (exit {code})"
    return code == 9


def test_a_kill_at_any_step_leaves_old_or_new_and_the_next_write_cleans_up(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.yaml"
    n = 0
    leftovers = 0
    while True:
        n += 1
        path.write_text("old\n")
        died = killed_at(n, path, "new\n")
        assert path.read_text() in ("old\n", "new\n"), f"killed at step {n}"
        # Only a kill between link and rename leaves a (hidden) name behind.
        left = [p.name for p in tmp_path.iterdir() if p.name != "m.yaml"]
        assert len(left) <= 1 and all(p.startswith(".m.yaml.policygen-") for p in left)
        leftovers += len(left)
        atomic.write_text(path, "again\n")
        assert [p.name for p in tmp_path.iterdir()] == ["m.yaml"]
        if not died:
            break
    assert n >= 5 and leftovers == 1
