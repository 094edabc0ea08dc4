"""YAML reading with limits: every problem located, every limit with its message."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policygen import yamlsafe
from policygen.manifests import FileProblem
from policygen.yamlsafe import YamlProblem


def values(text: str | bytes, **kw: Any) -> list[Any]:
    return [v for v, _ in yamlsafe.parse(text, **kw)]


def problem(text: str | bytes, **kw: Any) -> str:
    with pytest.raises(YamlProblem) as info:
        values(text, **kw)
    return str(info.value)


def bomb(levels: int) -> str:
    """The billion-laughs document: each level aliases the one before nine times."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        aliases = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{aliases}]")
    return "\n".join(lines) + "\n"


def test_values_are_plain_python() -> None:
    text = "a: 1\nb: [x, {c: d}]\nd: 2027-03-31\ne: null\nf: true\ng: 1.5\n"
    import datetime as dt

    assert values(text) == [
        {"a": 1, "b": ["x", {"c": "d"}], "d": dt.date(2027, 3, 31), "e": None, "f": True, "g": 1.5}
    ]


def test_aliases_and_merge_keys_are_shared_values() -> None:
    text = "a: &x {k: v, j: w}\nb: *x\nc:\n  <<: *x\n  k: mine\n"
    (doc,) = values(text)
    assert doc == {
        "a": {"k": "v", "j": "w"},
        "b": {"k": "v", "j": "w"},
        "c": {"k": "mine", "j": "w"},
    }
    assert doc["a"] is doc["b"]  # not a copy: an alias costs nothing until expanded


def test_go_yaml_alias_ratio() -> None:
    # gopkg.in/yaml.v2 decode.go, allowedAliasRatio
    assert yamlsafe.allowed_alias_ratio(1000) == 0.99
    assert yamlsafe.allowed_alias_ratio(400_000) == 0.99
    assert yamlsafe.allowed_alias_ratio(2_200_000) == pytest.approx(0.545)
    assert yamlsafe.allowed_alias_ratio(4_000_000) == 0.10


def test_an_alias_bomb_is_refused_where_go_yaml_refuses_it() -> None:
    assert problem(bomb(9)) == (
        "4:22: document contains excessive aliasing (the API server's limit): "
        "4,167 of 4,208 values would come from aliases"
    )


def test_a_few_aliases_are_fine() -> None:
    (doc,) = values(bomb(3))  # 9 × 9 × 9 values, 99% of them from aliases, under 1,000 decodes
    assert len(doc["a2"]) == 9 and doc["a2"][0] is doc["a1"]


def test_recursive_and_undefined_aliases() -> None:
    assert problem("a: &x [1, *x]\n") == "1:11: alias *x refers to its own anchor"
    assert problem("a: *y\n") == "1:4: alias *y has no anchor"


def test_nesting_depth() -> None:
    deep = "[" * yamlsafe.MAX_DEPTH + "]" * yamlsafe.MAX_DEPTH
    assert values(deep)
    too_deep = "[" * (yamlsafe.MAX_DEPTH + 1) + "]" * (yamlsafe.MAX_DEPTH + 1)
    assert problem(too_deep) == f"1:{yamlsafe.MAX_DEPTH + 1}: nested deeper than 100 levels"
    # 10,000 levels, the case: refused (here by libyaml's own limit, as
    # its scanner reads ahead), never a RecursionError
    assert problem("x: " + "[" * 10_000) == "1:1003: invalid YAML: exceeded maximum nesting depth"
    block = "".join(f"{' ' * i}k:\n" for i in range(150))
    assert problem(block) == "101:101: nested deeper than 100 levels"


def test_duplicate_keys() -> None:
    assert problem("a: 1\nb:\n  c: 1\n  c: 2\n") == "4:3: b.c: duplicate key"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !!int abc\n", "1:4: 'abc' is not an integer (!!int)"),
        (
            "a: !!timestamp yesterday\n",
            "1:4: 'yesterday' is not a valid date or timestamp (!!timestamp)",
        ),
        ("a: 2027-02-30\n", "1:4: '2027-02-30' is not a valid date or timestamp (!!timestamp)"),
        ("a: !!float x\n", "1:4: 'x' is not a number (!!float)"),
        ("a: !!binary aGk=\n", "1:4: unsupported tag tag:yaml.org,2002:binary"),
        ("a: !!set {x}\n", "1:4: unsupported tag tag:yaml.org,2002:set"),
        (
            "a: !!python/object:os.system x\n",
            "1:4: unsupported tag tag:yaml.org,2002:python/object:os.system",
        ),
        ("a: !foo x\n", "1:4: unsupported tag !foo"),
        ("? [a]\n: 1\n", "1:3: a mapping key must be a scalar"),
        ("a:\n  <<: 1\n", "2:7: a merge (<<) takes a mapping or a list of mappings"),
    ],
)
def test_tags_and_keys(text: str, message: str) -> None:
    assert problem(text) == message


def test_control_characters_and_bad_bytes_are_located() -> None:
    assert problem("a: 1\nb: x\x00\n") == "2:5: control character U+0000 is not allowed in YAML"
    assert problem(b"a: 1\nb: \x07\n") == "2:4: control character U+0007 is not allowed in YAML"
    assert problem(b"a: 1\n  # \xff\n") == "2:5: byte 0xff is not UTF-8"


def test_yaml12_booleans_on_request() -> None:
    assert values("a: off\nb: yes\nc: true\n", yaml12=True) == [{"a": "off", "b": "yes", "c": True}]
    assert values("a: off\n") == [{"a": False}]  # manifests: YAML 1.1, as the API server reads them


def test_positions_are_keys_for_fields_and_items_for_lists() -> None:
    positions: yamlsafe.Positions = {}
    values("a:\n  b: 1\n  c: [x, y]\n", positions=positions)
    assert positions == {
        (): (1, 1),
        ("a",): (1, 1),
        ("a", "b"): (2, 3),
        ("a", "c"): (3, 3),
        ("a", "c", 0): (3, 7),
        ("a", "c", 1): (3, 10),
    }


def chunks(data: bytes, **kw: Any) -> list[tuple[int, bytes, bool]]:
    return [(c.first_line, c.data, c.too_big) for c in yamlsafe.split(io.BytesIO(data), **kw)]


def test_split_cuts_at_document_markers_only() -> None:
    data = b"# head\n---\na: |\n  --- not a marker\n---x: 1\n...\n%YAML 1.1\n---\nb: 2\n---\n"
    assert chunks(data) == [
        (1, b"# head\n---\na: |\n  --- not a marker\n---x: 1\n...\n", False),
        (7, b"%YAML 1.1\n---\nb: 2\n", False),
        (10, b"---\n", False),
    ]


def test_a_document_over_the_limit_is_skipped_without_holding_it() -> None:
    data = b"a: " + b"x" * 5000 + b"\n---\nb: 1\n"
    (first, second) = chunks(data, max_document=1000)
    assert first[0] == 1 and first[2] and len(first[1]) == 1024
    assert second == (2, b"---\nb: 1\n", False)


def test_a_bad_document_costs_only_itself() -> None:
    data = b"a: 1\n---\nb: \xff\n---\nc: [\n---\nd: 4\n"
    out: list[Any] = []
    for chunk in yamlsafe.split(io.BytesIO(data)):
        try:
            out.extend(values(chunk.data, first_line=chunk.first_line))
        except YamlProblem as exc:
            out.append(str(exc))
    assert out == [
        {"a": 1},
        "3:4: byte 0xff is not UTF-8",
        "6:1: invalid YAML: did not find expected node content",
        {"d": 4},
    ]


@pytest.mark.parametrize(
    ("head", "named"),
    [
        ("a: 1\n".encode("utf-16"), "UTF-16 text"),
        ("a: 1\n".encode("utf-16-be"), "UTF-16BE text without a byte order mark"),
        ("a: 1\n".encode("utf-16-le"), "UTF-16LE text without a byte order mark"),
        ("a: 1\n".encode("utf-32"), "UTF-32 text"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00", "binary file"),
    ],
)
def test_encodings_are_named(head: bytes, named: str) -> None:
    why = yamlsafe.encoding_problem(head)
    assert why is not None and why.startswith(named)


def test_utf8_is_fine() -> None:
    assert yamlsafe.encoding_problem("\ufeffname: café\n".encode()) is None


@pytest.mark.parametrize(
    "text",
    [
        "args: [--op, =]\n",
        "a: y\nb: 22:22\nc: 0777\nd: 1e3\ne: 2024-01-01\nf: .inf\n",
        "1: a\ny: b\n1.5: c\n",
        "a: !!int '3'\nb: '=' \n",
        "base: &b {x: 1}\nuse: {<<: *b, y: 2}\n",
    ],
)
def test_kube_mode_reads_as_kubeyaml(text: str) -> None:
    from policygen import kubeyaml

    assert values(text, kube=True) == kubeyaml.load_all(text)


def test_kube_mode_refuses_a_null_key() -> None:
    assert problem("~: a\n", kube=True) == (
        "1:1: unsupported map key None (Kubernetes accepts only scalars)"
    )


# The fast path (yaml-rs) must give what the careful path gives, document for
# document, or step aside: the careful path is the oracle here, and its own
# go-yaml semantics are tested above and in tests/test_kubeyaml.py.

ROOT = Path(__file__).resolve().parent.parent


def careful(data: bytes, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as m:
        m.setattr(yamlsafe, "fast_batch", lambda chunks: None)
        m.setattr(yamlsafe, "_fast_document", lambda data, first_line: None)
        return read_bytes(data)


def read_bytes(data: bytes) -> list[Any]:
    from policygen.manifests import _documents

    return list(_documents(io.BytesIO(data), "f.yaml"))


PLAIN = b"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: "1"}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.25.3
        args: ["--port", "8080", '--ratio=0.5']
        ports:
        - containerPort: 8080
          protocol: TCP
        resources: {limits: {cpu: 0.5, memory: 64Mi}}
      - name: side
        image: ghcr.io/acme/side:7-alpine
        command:
        - sh
        - -c
        - |
          echo "starting"; sleep 3600
"""

RISKY = [
    # go-yaml v2 booleans YAML 1.2 leaves strings, as values, keys, in flow
    "a: yes\n",
    "a: on\n",
    "a: Off\n",
    "a: [y, n]\n",
    "a: {b: N}\n",
    "yes: 1\n",
    "a: 'on'\n",
    'a: "no"\n',
    # numbers read differently, or not at all, by one of them
    "a: 0777\n",
    "a: 09\n",
    "a: 1_000\n",
    "a: 0x1F\n",
    "a: 0o17\n",
    "a: 0b101\n",
    "a: +12\n",
    "a: .5\n",
    "a: 1e3\n",
    "a: 1.\n",
    "a: .inf\n",
    "a: .iNf\n",
    "a: +.NaN\n",
    "a: 12345678901234567890\n",
    "a: 123456789012345678\n",
    "a: 22:22\n",
    "a: '0777'\n",
    "a: [1, 0777]\n",
    "a: 2024-01-01\n",
    # keys that are not strings
    "1: a\n",
    "true: a\n",
    "~: a\n",
    "1.5: a\n",
    "? [a]\n: b\n",
    "a: {[b]: c}\n",
    '{"a":yes}\n',
    # anchors, aliases, merge keys, tags, directives
    "a: &x 1\nb: *x\n",
    "base: &b {x: 1}\nuse: {<<: *b, y: 2}\n",
    "a: !!int '3'\n",
    "a: !!binary aGk=\n",
    "a: !custom x\n",
    "%YAML 1.1\n---\na: 1\n",
    "a: *nothing\n",
    # characters and line breaks
    "\ufeffa: 1\n",
    "a: 'x\x01'\n",
    "a: 'x\x85y'\n",
    "a: 1\r\nb: 2\r\n",
    # duplicate keys, bad YAML, nesting
    "a: 1\na: 2\n",
    'a: 1\n"a": 2\n',
    '1: a\n"1": b\n',
    "a: [\n",
    "a:\tb\n",
    "a: -\n",
    "a: " + "[" * 150 + "]" * 150 + "\n",
    "".join(" " * i + "a:\n" for i in range(120)) + " " * 120 + "a: 1\n",
    # documents
    "# only a comment\n",
    "---\n",
    "--- 3\n",
    "--- # c\na: 1\n",
    "---\n# c\na: 1\n",
    "a: 1\n...\n",
    "a: 1\n---\nb: 2\n---\n---\nc: 3\n",
    "- a\n- b\n",
    "plain\n",
]


@pytest.mark.parametrize("text", RISKY)
def test_the_fast_path_reads_risky_text_as_the_careful_path(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = text.encode()
    assert read_bytes(data) == careful(data, monkeypatch)
    # between plain documents, and alone
    both = PLAIN + b"---\n" + data + (b"" if data.endswith(b"\n") else b"\n") + b"---\n" + PLAIN
    assert read_bytes(both) == careful(both, monkeypatch)
    single = list(yamlsafe.parse(data, kube=True)) if _parses(data) else None
    with monkeypatch.context() as m:
        m.setattr(yamlsafe, "_fast_document", lambda data, first_line: None)
        assert single == (list(yamlsafe.parse(data, kube=True)) if _parses(data) else None)


def _parses(data: bytes) -> bool:
    try:
        list(yamlsafe.parse(data, kube=True))
    except YamlProblem:
        return False
    return True


def test_the_fast_path_is_taken_for_plain_manifests() -> None:
    chunks = list(yamlsafe.split(io.BytesIO(PLAIN + b"---\n" + PLAIN)))
    fast = yamlsafe.fast_batch(chunks)
    assert fast is not None and [line for _, line in fast] == [1, 26]
    assert fast[0][0]["spec"]["template"]["spec"]["containers"][0]["args"][1] == "8080"
    assert yamlsafe._fast_document(PLAIN, 1) is not None


@pytest.mark.parametrize("text", ["a: yes\n", "a: 0777\n", "a: &x 1\n", "a: 'x\x01'\n", "1: a\n"])
def test_the_fast_path_steps_aside(text: str) -> None:
    chunks = list(yamlsafe.split(io.BytesIO(PLAIN + b"---\n" + text.encode())))
    assert yamlsafe.fast_batch(chunks) is None
    assert yamlsafe._fast_document(text.encode(), 1) is None


@pytest.mark.parametrize(
    "deep",
    [
        "".join(" " * i + "a:\n" for i in range(1500)),
        "a:\n  " + "- " * 20_000 + "x\n",
        "a: " + "[" * 20_000 + "]" * 20_000 + "\n",
    ],
)
def test_deep_nesting_never_reaches_yaml_rs(deep: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """yaml-rs crashes the process on a few thousand levels of block nesting."""
    for data in (deep.encode(), PLAIN + b"---\n" + deep.encode()):
        got = read_bytes(data)
        assert got == careful(data, monkeypatch)
        problems = [d for d in got if isinstance(d, FileProblem)]
        assert len(problems) == 1 and "nest" in problems[0].message


def yaml_files() -> list[Path]:
    """Every YAML file of the repository's tests, examples and bundle, and of
    the upstream fixtures beside it when present: real manifests, policies
    and suites in many styles."""
    roots = [ROOT / "tests", ROOT / "examples", ROOT / "policies", ROOT.parent.parent / "shared"]
    roots = [r for r in roots if r.is_dir()]
    return sorted(p for r in roots for p in r.rglob("*.y*ml") if p.is_file())


def test_the_fast_path_reads_every_yaml_file_here_as_the_careful_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = yaml_files()
    assert len(files) > 100
    for path in files:
        data = path.read_bytes()
        assert read_bytes(data) == careful(data, monkeypatch), path


def reference_split(data: bytes) -> list[tuple[int, bytes, int, bool]]:
    """Cutting line by line, as the format says: before a ``---`` line once
    the document has more than comments, blank lines and directives, and
    after a ``...`` line."""
    out = []
    buf, first, line, content = b"", 1, 1, False
    for text in re.findall(rb"[^\n]*\n|[^\n]+$", data):
        kind = text[:3] if text[3:4] in (b"", b" ", b"\t", b"\r", b"\n") else b""
        if kind == b"---" and content:
            out.append((first, buf, len(buf), False))
            buf, first, content = b"", line, False
        buf += text
        content = content or text.strip()[:1] not in (b"", b"#", b"%")
        line += text.endswith(b"\n")
        if kind == b"...":
            out.append((first, buf, len(buf), False))
            buf, first, content = b"", line, False
    if buf:
        out.append((first, buf, len(buf), False))
    return out


LINES = [
    b"---",
    b"--- a",
    b"---x",
    b"...",
    b"... ",
    b"a: 1",
    b"  b: 2",
    b"# c",
    b"%YAML 1.1",
    b"",
    b"  ",
    b"x" * 12,
    b"--- # c",
    b"-",
    b"\r",
    b"y" * 5000,
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(LINES), max_size=12),
    st.booleans(),
    st.sampled_from([1, 3, 7, 64, 1 << 20]),
)
def test_split_cuts_as_a_line_by_line_reading_would(
    lines: list[bytes], final_newline: bool, block: int
) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    old = yamlsafe._BLOCK
    yamlsafe._BLOCK = block  # small blocks: lines cross every boundary
    try:
        got = [(c.first_line, c.data, c.size, c.too_big) for c in yamlsafe.split(io.BytesIO(data))]
    finally:
        yamlsafe._BLOCK = old
    assert got == reference_split(data)
