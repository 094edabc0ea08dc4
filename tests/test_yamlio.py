"""yamlio.dump: libyaml's emitter where it writes what PyYAML's writes, the
Python emitter everywhere else, so a bundle's bytes never depend on it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from policygen import yamlio

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CDumper"), reason="PyYAML without libyaml")


def python_emitter(data: Any) -> str:
    return yaml.dump(
        data, Dumper=yaml.Dumper, sort_keys=False, default_flow_style=False,
        allow_unicode=True, width=4096,
    )  # fmt: skip


# Characters that change a scalar's style: indicators, quotes, comment and
# flow markers, words YAML 1.1 resolves (yes, null, 0x1f, 1e3), line breaks,
# and non-ASCII and control characters the guard must send to Python.
PIECES = [
    *"abz09 -_:./*?#&!|>'\"%@`{}[],\\~=<+$^();\n",
    *["yes", "no", "null", "~", "1e3", "0x1f", "on", "true", "- ", "--- ", "...", ": ", " #"],
    *["\n\n", " \n", "\n ", "<<", "&a", "*a", "!!str", "12:30", ".inf"],
    *["\t", "\r", "\x85", "\u2028", "\ufeff", "é", "\U0001f600", "\x00", "\x7f"],
]
short_text = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


def _stretched(head: str, filler: str, length: int, tail: str) -> str:
    return head + (filler * (length // len(filler) + 1))[:length] + tail


# Long text, past the guard's 1,000 characters and the 4,096-column width:
# random ends around random pieces repeated to a random length. Drawn as
# thousands of single pieces instead, generating the values took minutes
# (most draws overran Hypothesis' buffer and were thrown away), while what
# the guard and the emitters look at is which pieces occur and how long the
# text is.
long_text = st.builds(
    _stretched,
    short_text,
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=60).map("".join),
    st.integers(min_value=1000, max_value=5000),
    short_text,
)
text = short_text | long_text
scalars = text | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text | st.integers(), inner),
    max_leaves=20,
)


@given(st.dictionaries(text, values, min_size=1) | st.lists(values, min_size=1))
def test_dump_writes_what_the_python_emitter_writes(data: Any) -> None:
    assert yamlio.dump(data) == python_emitter(data)


@pytest.mark.parametrize(
    ("data", "python_text"),
    [
        # libyaml writes `'': 1`, PyYAML an explicit `? ''` key.
        ({"": 1}, "? ''\n: 1\n"),
        # A long quoted key: PyYAML makes it explicit, libyaml counts it shorter.
        ({'"' + "k" * 125: 1}, f"? '\"{'k' * 125}'\n: 1\n"),
        # NEL: PyYAML keeps it in single quotes, libyaml escapes it.
        (["\x85"], "- '\x85  '\n"),
    ],
)
def test_values_the_emitters_disagree_on_go_through_python(data: Any, python_text: str) -> None:
    assert yaml.dump(data, Dumper=yaml.CDumper, sort_keys=False) != python_text
    assert not yamlio.emits_alike(data)
    assert yamlio.dump(data) == python_text


def test_what_we_render_takes_the_fast_path() -> None:
    policy = {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": "acme-registries", "annotations": {"a/b": "x: y"}},
        "spec": {"rules": [{"name": "r", "expression": "a && 'b' || \"c\" " * 2000}]},
    }
    assert yamlio.emits_alike(policy)
    assert yamlio.dump(policy) == python_emitter(policy)
