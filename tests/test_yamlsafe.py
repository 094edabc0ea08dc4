"""YAML reading with limits: every problem located, every limit with its message."""

from __future__ import annotations

import io
from typing import Any

import pytest

from policygen import yamlsafe
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
