"""Checks that treat policygen as a careless user, a hostile file and a failing
machine would: each runs the real command line in a fresh process and says
whether what must hold held.

A check is a function taking a :class:`Lab` and raising :class:`Broken` (or
failing an ``assert``) when the property does not hold. ``FAST`` checks run in
CI through ``test_reliability.py``; ``SLOW`` ones (random kills, floods, full
and read-only file systems, the registry deadline) with
``python -m tests.reliability --slow``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "policygen.yaml"
NOW = "2026-11-28"
DIGEST = "sha256:" + "5" * 64


#: Runs a command and writes its peak memory (KiB) to the file descriptor its
#: first argument names. A process's peak
#: counts what its parent held when it forked (Linux carries the old memory's
#: high-water mark across exec), so a child of a large pytest would report
#: pytest's size; a child of this small interpreter reports its own.
MEASURED = """\
import os, signal, sys
peak = int(sys.argv[1])
os.set_inheritable(peak, False)
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
os.write(peak, str(usage.ru_maxrss).encode())
if os.WIFSIGNALED(status):
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.waitstatus_to_exitcode(status))
"""


class Broken(AssertionError):
    """The property did not hold."""


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float
    max_rss_mib: float


@dataclass
class Lab:
    """A scratch folder and a way to run policygen in it."""

    root: Path

    def path(self, name: str) -> Path:
        return self.root / name

    def run(
        self,
        *args: str,
        stdin: int | None = subprocess.DEVNULL,
        stdout: int | None = subprocess.PIPE,
        timeout: float = 120,
        cwd: Path | None = None,
        input_closed: bool = False,
        output: Path | None = None,
    ) -> Result:
        """``policygen ARGS`` in a new process, with its peak memory."""
        start = time.monotonic()
        out_file = open(output, "wb") if output else None  # noqa: SIM115
        peak_read, peak_write = os.pipe()
        peak = os.fdopen(peak_read, "rb")
        cmd = [sys.executable, "-c", MEASURED, str(peak_write), sys.executable, "-m", "policygen"]
        try:
            with contextlib.closing(_Fd(peak_write)):
                proc = subprocess.Popen(
                    [*cmd, *args],
                    cwd=cwd or self.root,
                    stdin=None if input_closed else stdin,
                    stdout=out_file or stdout,
                    stderr=subprocess.PIPE,
                    pass_fds=(peak_write,),
                    preexec_fn=(lambda: os.close(0)) if input_closed else None,
                    start_new_session=True,
                )
            chunks: dict[str, bytes] = {}

            def drain(name: str, stream: IO[bytes] | None) -> None:
                chunks[name] = stream.read() if stream else b""

            readers = [
                threading.Thread(target=drain, args=("out", proc.stdout)),
                threading.Thread(target=drain, args=("err", proc.stderr)),
            ]
            for r in readers:
                r.start()
            # The whole session: the measuring interpreter and policygen.
            killer = threading.Timer(timeout, _kill_session, (proc.pid,))
            killer.start()
            proc.wait()
            killer.cancel()
            for r in readers:
                r.join()
            max_rss_kib = int(peak.read() or 0)
        finally:
            peak.close()
            if out_file:
                out_file.close()
        return Result(
            proc.returncode,
            chunks["out"].decode(errors="replace"),
            chunks["err"].decode(errors="replace"),
            time.monotonic() - start,
            max_rss_kib / 1024,
        )

    def config(self) -> Path:
        cfg = self.path("policygen.yaml")
        if not cfg.exists():
            shutil.copy(EXAMPLE, cfg)
        return cfg

    def build(self, out: str, **kw: object) -> Result:
        return self.run("build", "-c", str(self.config()), "-o", out, "--now", NOW, **kw)  # type: ignore[arg-type]


@dataclass
class _Fd:
    """A file descriptor closed when the ``with`` ends: the writing end of
    the peak's pipe, so that reading it ends when the child has written."""

    fd: int

    def close(self) -> None:
        os.close(self.fd)


def _kill_session(leader: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader, signal.SIGKILL)


def expect(result: Result, code: int, *needles: str) -> None:
    if result.code != code:
        raise Broken(f"exit {result.code}, wanted {code}: {result.err.strip()[:300]}")
    for needle in needles:
        if needle not in result.err:
            raise Broken(f"stderr lacks {needle!r}: {result.err.strip()[:300]}")
    if "internal error" in result.err or "Traceback" in result.err:
        raise Broken(f"a traceback or internal error: {result.err.strip()[:300]}")


def whole_bundle(folder: Path) -> None:
    """``folder`` is a complete bundle: its lock names every file, with its hash."""
    lock = json.loads((folder / "bundle.lock").read_text())
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    if on_disk != sorted([*lock["files"], "bundle.lock"]):
        raise Broken(f"{folder}: files differ from its lock")
    for rel, digest in lock["files"].items():
        if hashlib.sha256((folder / rel).read_bytes()).hexdigest() != digest:
            raise Broken(f"{folder}/{rel}: not the content its lock names")


def no_staging(folder: Path) -> None:
    left = [p.name for p in folder.parent.iterdir() if ".policygen-" in p.name]
    if left:
        raise Broken(f"staging left next to {folder}: {left}")


def bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


POD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: team-a}\n"
    "spec:\n  containers:\n    - name: app\n      image: IMAGE\n      imagePullPolicy: Always\n"
)


# -- nothing the user has is lost ------------------------------------------------


def build_refuses_a_source_folder(lab: Lab) -> None:
    src = lab.path("src")
    src.mkdir()
    (src / "main.py").write_text("print('mine')\n")
    expect(lab.build(str(src)), 2, "not a policygen bundle")
    assert (src / "main.py").read_text() == "print('mine')\n"


def build_refuses_the_repository(lab: Lab) -> None:
    repo = lab.path("repo")
    (repo / ".git").mkdir(parents=True)
    shutil.copy(EXAMPLE, repo / "policygen.yaml")
    expect(lab.run("build", "-o", ".", "--now", NOW, cwd=repo), 2, "not a policygen bundle")
    assert (repo / "policygen.yaml").exists() and (repo / ".git").is_dir()


def build_refuses_a_file_and_a_bundle_with_extra_files(lab: Lab) -> None:
    readme = lab.path("README.md")
    readme.write_text("mine\n")
    expect(lab.build(str(readme)), 2, "is not a folder")
    assert readme.read_text() == "mine\n"
    out = lab.path("policies")
    expect(lab.build(str(out)), 0)
    (out / "NOTES.md").write_text("mine\n")
    expect(lab.build(str(out)), 2, "not part of its bundle (NOTES.md)")
    assert (out / "NOTES.md").read_text() == "mine\n"


def build_folder_mode_is_not_0700(lab: Lab) -> None:
    out = lab.path("policies")
    expect(lab.build(str(out)), 0)
    mode = out.stat().st_mode & 0o777
    if mode & 0o055 == 0:
        raise Broken(f"bundle folder mode {mode:o}")


def concurrent_builds_end_with_one_bundle(lab: Lab) -> None:
    out = lab.path("policies")
    expect(lab.build(str(out)), 0)
    cmd = [sys.executable, "-m", "policygen", "build", "-c", str(lab.config())]
    procs = [
        subprocess.Popen(
            [*cmd, "-o", str(out), "--now", NOW],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=lab.root,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=120), p.stderr.read().decode() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in results)
    if not set(codes) <= {0, 2} or 0 not in codes:
        raise Broken(f"exit codes {codes}: {[e for _, e in results]}")
    for code, err in results:
        if code == 2 and "another policygen build is writing" not in err:
            raise Broken(f"a loser without the message: {err}")
    whole_bundle(out)
    no_staging(out)


def killed_builds_leave_a_whole_bundle(lab: Lab, kills: int = 3) -> None:
    out = lab.path("policies")
    expect(lab.build(str(out)), 0)
    cmd = [sys.executable, "-m", "policygen", "build", "-c", str(lab.config())]
    rng = random.Random(12)
    for _ in range(kills):
        proc = subprocess.Popen(
            [*cmd, "-o", str(out), "--now", NOW],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        whole_bundle(out)  # old or new, never less
    expect(lab.build(str(out)), 0)
    whole_bundle(out)
    no_staging(out)  # the next build cleaned up


# -- bad input is exit 2 with a located message -----------------------------------

BAD_MANIFESTS = {
    "kind-list.yaml": ("apiVersion: v1\nkind: [Pod]\n", "#1: kind: a string is required"),
    "metadata-str.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata: oops\n",
        "#1: metadata: a mapping is required",
    ),
    "int-tag.yaml": ("apiVersion: v1\nkind: Pod\nmetadata: {name: !!int abc}\n", ":3:18:"),
    "ts-tag.yaml": ("apiVersion: v1\nkind: Pod\nx: !!timestamp yesterday\n", ":3:4:"),
    "deep.yaml": ("apiVersion: v1\nkind: Pod\nx: " + "[" * 10_000 + "\n", ":3:"),
    "nul.yaml": ("apiVersion: v1\nkind: Pod\nmetadata: {name: a\x00}\n", "binary file"),
    "ctrl.yaml": ("apiVersion: v1\nkind: Pod\nmetadata: {name: a\x07}\n", ":3:19: control"),
    "dup.yaml": ("apiVersion: v1\nkind: Pod\nkind: Pod\n", ":3:1: kind: duplicate key"),
    "bomb.yaml": ("apiVersion: v1\nkind: Pod\n" + bomb(), "excessive aliasing"),
}


def bad_manifests_are_exit_2_with_their_line(lab: Lab) -> None:
    folder = lab.path("bad")
    folder.mkdir()
    for name, (text, _) in BAD_MANIFESTS.items():
        (folder / name).write_text(text)
    (folder / "utf16.yaml").write_bytes("apiVersion: v1\nkind: Pod\n".encode("utf-16"))
    result = lab.run("scan", str(folder), "-c", str(lab.config()), "--now", NOW, timeout=60)
    expect(result, 2, "UTF-16 text")
    for name, (_, where) in BAD_MANIFESTS.items():
        line = [x for x in result.err.splitlines() if f"/{name}" in x]
        if not line or where not in line[0]:
            raise Broken(f"{name}: wanted {where!r} in {line}")


def an_alias_bomb_is_cheap_for_every_engine(lab: Lab) -> None:
    path = lab.path("bomb.yaml")
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n" + bomb())
    args = ["scan", str(path), "--engine", "all", "-c", str(lab.config()), "--now", NOW]
    result = lab.run(*args, timeout=60)
    expect(result, 2, "excessive aliasing")
    if result.max_rss_mib > 1024:
        raise Broken(f"{result.max_rss_mib:.0f} MiB for a 600-byte file")


BAD_CONFIGS = {
    "2027-02-30": ("expires: 2027-03-31", "expires: 2027-02-30", ":42:16: '2027-02-30' is not"),
    "!!int": ("name: acme", "name: !!int acme", ":6:9: 'acme' is not an integer"),
    "NUL": ("name: acme", "name: ac\x00me", ":6:11: control character U+0000"),
}


def bad_configs_are_exit_2_with_line_and_column(lab: Lab) -> None:
    text = EXAMPLE.read_text()
    for name, (old, new, where) in BAD_CONFIGS.items():
        if old not in text:
            raise Broken(f"the example config has no {old!r}")
        path = lab.path(f"bad-{len(name)}.yaml")
        path.write_text(text.replace(old, new, 1))
        expect(lab.run("validate", "-c", str(path), "--now", NOW), 2, f"{path}{where}")
    bombed = lab.path("bomb-config.yaml")
    bombed.write_text(bomb())
    expect(lab.run("validate", "-c", str(bombed)), 2, "excessive aliasing")
    latin = lab.path("latin1.yaml")
    latin.write_bytes(text.replace("name: acme", "name: acmé").encode("latin-1"))
    expect(lab.run("validate", "-c", str(latin)), 2, f"{latin}:6:")


def an_endless_config_is_bounded(lab: Lab) -> None:
    result = lab.run("validate", "-c", "/dev/zero", timeout=30)
    expect(result, 2, "larger than 4 MiB")
    if result.max_rss_mib > 512:
        raise Broken(f"{result.max_rss_mib:.0f} MiB to refuse /dev/zero")


def closed_and_full_streams_are_exit_2(lab: Lab) -> None:
    pod = lab.path("pod.yaml")
    pod.write_text(POD.replace("IMAGE", f"harbor.corp.example/team-a/app@{DIGEST}"))
    scan = ["scan", "-", "-c", str(lab.config()), "--now", NOW]
    expect(lab.run(*scan, input_closed=True), 2, "standard input is closed")
    if Path("/dev/full").exists():
        full = lab.run(
            "explain", "nginx", "-c", str(lab.config()), "--now", NOW, output=Path("/dev/full")
        )
        expect(full, 2, "No space left on device")


@contextmanager
def fake_registry(drip: float = 0.0, garbage: bool = False) -> Iterator[str]:
    """A registry that answers every manifest HEAD with DIGEST, or drips, or
    answers something that is not HTTP."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            if garbage:
                self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
                return
            if drip:
                for byte in b"HTTP/1.1 200 OK\r\n" * 50:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(drip)
                return
            self.send_response(200)
            self.send_header("Docker-Content-Digest", DIGEST)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.end_headers()

        def do_GET(self) -> None:
            if self.path == "/v2/":
                self.send_response(200)
                self.end_headers()
                return
            self.do_HEAD()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def pin_keeps_symlinks_and_modes_and_leaves_nothing(lab: Lab) -> None:
    with fake_registry() as host:
        real = lab.path("manifests/real.yaml")
        real.parent.mkdir()
        real.write_text(POD.replace("IMAGE", f"{host}/team-a/app:1"))
        real.chmod(0o640)
        link = lab.path("manifests/pod.yaml")
        link.symlink_to("real.yaml")
        expect(lab.run("pin", str(link), "--plain-http", host), 0)
    if not link.is_symlink():
        raise Broken("the symlink was replaced by a file")
    if f"app:1@{DIGEST}" not in real.read_text():
        raise Broken("the target was not pinned")
    if real.stat().st_mode & 0o777 != 0o640:
        raise Broken(f"mode {real.stat().st_mode & 0o777:o}")
    left = sorted(p.name for p in real.parent.iterdir())
    if left != ["pod.yaml", "real.yaml"]:
        raise Broken(f"left behind: {left}")


def malformed_registry_answers_are_exit_2(lab: Lab) -> None:
    with fake_registry(garbage=True) as host:
        path = lab.path("pod.yaml")
        path.write_text(POD.replace("IMAGE", f"{host}/team-a/app:1"))
        before = path.read_text()
        expect(lab.run("pin", str(path), "--plain-http", host), 2, "malformed answer")
        assert path.read_text() == before


def scanned_folders_report_what_they_cannot_read(lab: Lab) -> None:
    folder = lab.path("apps")
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "loop").symlink_to("..")
    (folder / "self.yaml").symlink_to("self.yaml")
    (folder / "pod.yaml").write_text(
        POD.replace("IMAGE", f"harbor.corp.example/team-a/app@{DIGEST}")
    )
    result = lab.run("scan", str(folder), "-c", str(lab.config()), "--now", NOW, timeout=60)
    expect(result, 2, "symlink loop", "self.yaml")


# -- the slow part: more kills, floods, full and read-only file systems --------------


def many_killed_builds(lab: Lab) -> None:
    killed_builds_leave_a_whole_bundle(lab, kills=50)


def killed_pins_leave_nothing(lab: Lab) -> None:
    with fake_registry() as host:
        folder = lab.path("m")
        folder.mkdir()
        rng = random.Random(7)
        for i in range(20):
            path = folder / "pod.yaml"
            path.write_text(POD.replace("IMAGE", f"{host}/team-a/app:{i}"))
            proc = subprocess.Popen(
                [sys.executable, "-m", "policygen", "pin", str(path), "--plain-http", host],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.2, 2.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            text = path.read_text()
            if text not in (
                POD.replace("IMAGE", f"{host}/team-a/app:{i}"),
                POD.replace("IMAGE", f"{host}/team-a/app:{i}@{DIGEST}"),
            ):
                raise Broken(f"kill {i}: a file neither old nor new")
            expect(lab.run("pin", str(path), "--plain-http", host), 0)
            if sorted(p.name for p in folder.iterdir()) != ["pod.yaml"]:
                raise Broken(f"kill {i}: left {sorted(p.name for p in folder.iterdir())}")


def a_flood_of_concurrent_builds(lab: Lab) -> None:
    for _ in range(5):
        concurrent_builds_end_with_one_bundle(lab)


@contextmanager
def tmpfs(lab: Lab, size: str) -> Iterator[Path]:
    mount = lab.path(f"tmpfs-{size}")
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        raise Broken(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Write ``path`` until the file system is full."""
    with contextlib.suppress(OSError), open(path, "wb") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()


def a_full_file_system_changes_nothing(lab: Lab) -> None:
    size = sum(p.stat().st_size for p in (ROOT / "policies").rglob("*") if p.is_file())
    with tmpfs(lab, f"{int(size * 1.5) // 1024 + 64}k") as mount:
        out = mount / "policies"
        expect(lab.build(str(out)), 0)
        filler = mount / "filler"
        fill(filler)
        lab.config().write_text(lab.config().read_text().replace("action: deny", "action: warn", 1))
        expect(lab.build(str(out)), 2, "No space left on device", "unchanged")
        whole_bundle(out)
        no_staging(out)
        pod = mount / "pod.yaml"
        with fake_registry() as host:
            filler.unlink()
            pod.write_text(POD.replace("IMAGE", f"{host}/team-a/app:1"))
            fill(filler)
            expect(lab.run("pin", str(pod), "--plain-http", host), 2, "No space left on device")
        if f"@{DIGEST}" in pod.read_text():
            raise Broken("pin wrote on a full file system?")
    shutil.copy(EXAMPLE, lab.config())


def a_read_only_file_system_is_exit_2(lab: Lab) -> None:
    with tmpfs(lab, "4m") as mount:
        out = mount / "policies"
        expect(lab.build(str(out)), 0)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        expect(lab.build(str(out)), 2, "Read-only file system")
        whole_bundle(out)


def an_alias_bomb_per_engine(lab: Lab) -> None:
    path = lab.path("bomb.yaml")
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n" + bomb())
    for engine in ("model", "kyverno", "kyverno-cel", "gatekeeper", "vap"):
        args = ["scan", str(path), "--engine", engine, "-c", str(lab.config()), "--now", NOW]
        result = lab.run(*args, timeout=60)
        expect(result, 2, "excessive aliasing")
        if result.seconds > 30 or result.max_rss_mib > 1024:
            raise Broken(f"{engine}: {result.seconds:.0f} s, {result.max_rss_mib:.0f} MiB")


def one_large_document_is_a_small_multiple(lab: Lab) -> None:
    items = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"p{i}", "namespace": "team-a", "labels": {"app": "x"}},
            "spec": {
                "containers": [
                    {"name": "c", "image": f"nginx:{i}", "env": [{"name": "A", "value": "1"}]}
                ]
            },
        }
        for i in range(60_000)
    ]
    path = lab.path("list.json")
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    size_mib = path.stat().st_size / 2**20
    baseline = lab.run("scan", "-", "-c", str(lab.config()), "--now", NOW, "--format", "json")
    result = lab.run(
        "scan",
        str(path),
        "-c",
        str(lab.config()),
        "--now",
        NOW,
        "--format",
        "json",
        stdout=subprocess.DEVNULL,
        timeout=600,
    )
    expect(result, 1)
    ratio = (result.max_rss_mib - baseline.max_rss_mib) / size_mib
    if ratio > 15:
        raise Broken(f"{ratio:.0f}x a {size_mib:.0f} MiB document")


def a_dripping_registry_meets_the_deadline(lab: Lab) -> None:
    with fake_registry(drip=5.0) as host:
        path = lab.path("pod.yaml")
        path.write_text(POD.replace("IMAGE", f"{host}/team-a/app:1"))
        result = lab.run("pin", str(path), "--plain-http", host, timeout=120)
        expect(result, 2, "no complete answer")
        if result.seconds > 90:
            raise Broken(f"{result.seconds:.0f} s")


Check = Callable[[Lab], None]

FAST: list[Check] = [
    build_refuses_a_source_folder,
    build_refuses_the_repository,
    build_refuses_a_file_and_a_bundle_with_extra_files,
    build_folder_mode_is_not_0700,
    concurrent_builds_end_with_one_bundle,
    killed_builds_leave_a_whole_bundle,
    bad_manifests_are_exit_2_with_their_line,
    an_alias_bomb_is_cheap_for_every_engine,
    bad_configs_are_exit_2_with_line_and_column,
    an_endless_config_is_bounded,
    closed_and_full_streams_are_exit_2,
    pin_keeps_symlinks_and_modes_and_leaves_nothing,
    malformed_registry_answers_are_exit_2,
    scanned_folders_report_what_they_cannot_read,
]
SLOW: list[Check] = [
    many_killed_builds,
    killed_pins_leave_nothing,
    a_flood_of_concurrent_builds,
    a_full_file_system_changes_nothing,
    a_read_only_file_system_is_exit_2,
    an_alias_bomb_per_engine,
    one_large_document_is_a_small_multiple,
    a_dripping_registry_meets_the_deadline,
]
