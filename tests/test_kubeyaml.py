"""Plain scalars mean what they mean to Kubernetes (sigs.k8s.io/yaml, whose
decoder is its go-yaml v2 fork: ``goyaml.v2/resolve.go`` and ``decode.go``).
Each expectation below is go-yaml v2's answer, not PyYAML's."""

from __future__ import annotations

import math

import pytest
import yaml

from policygen.kubeyaml import KubeLoader, load_all, resolve_plain


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("=", "="),  # PyYAML: tag:yaml.org,2002:value, and no constructor for it
        ("y", True),  # PyYAML: "y"
        ("N", False),
        ("yes", True),
        ("Off", False),
        ("TRUE", True),
        ("tRUE", "tRUE"),
        ("22:22", "22:22"),  # PyYAML: 1342 (base 60)
        ("1:30:00", "1:30:00"),
        ("0o17", 15),  # PyYAML: "0o17"
        ("0777", 511),
        ("0x1F", 31),
        ("0b101", 5),
        ("-0b101", -5),
        ("1_000", 1000),
        ("08", 8.0),  # not octal, so go-yaml's float pattern takes it
        ("1e3", 1000.0),  # PyYAML: "1e3"
        (".5", 0.5),
        ("-.5", -0.5),
        ("2024-01-01", "2024-01-01"),  # PyYAML: datetime.date
        ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
        ("99999999999999999999", 1e20),  # beyond uint64 and decimal: a float
        ("18446744073709551615", 2**64 - 1),  # uint64 still an integer
        ("~", None),
        ("null", None),
        ("", None),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("1.5.3", "1.5.3"),
        ("-x", "-x"),
        ("+", "+"),
        ("3.1", 3.1),
        ("v1", "v1"),
    ],
)
def test_plain_scalars_resolve_as_go_yaml_v2(text: str, value: object) -> None:
    (doc,) = load_all(f"k: {text}\n")
    assert doc == {"k": value}
    assert type(doc["k"]) is type(value)


def test_nan() -> None:
    (doc,) = load_all("k: .NaN\n")
    assert math.isnan(doc["k"])


def test_quoted_and_tagged_scalars_keep_their_meaning() -> None:
    (doc,) = load_all('a: \'=\'\nb: "y"\nc: !!int "3"\nd: !!str 3\ne: !!float 1\n')
    assert doc == {"a": "=", "b": "y", "c": 3, "d": "3", "e": 1.0}


def test_merge_keys_still_merge() -> None:
    (doc,) = load_all("base: &b {x: 1}\nd:\n  <<: *b\n  z: 2\n")
    assert doc["d"] == {"x": 1, "z": 2}


def test_keys_are_json_strings() -> None:
    (doc,) = load_all("1: a\ny: b\noff: c\n1.5: d\nname: e\n")
    assert doc == {"1": "a", "true": "b", "false": "c", "1.5": "d", "name": "e"}


def test_a_null_key_is_an_error() -> None:
    with pytest.raises(yaml.YAMLError, match="unsupported map key None"):
        load_all("~: a\n")


def test_the_bare_equals_of_an_alertmanager_matcher() -> None:
    # kube-prometheus' AlertmanagerConfig CRD lists the matcher operators.
    (doc,) = load_all("enum: ['!=', =, =~, '!~']\nargs: [--op, =]\n")
    assert doc == {"enum": ["!=", "=", "=~", "!~"], "args": ["--op", "="]}


def test_pyyaml_itself_is_left_alone() -> None:
    # The loader is a subclass: other code reading YAML keeps PyYAML's rules.
    assert yaml.safe_load("k: 22:22") == {"k": 1342}
    assert resolve_plain("22:22") == ("tag:yaml.org,2002:str", "22:22")
    assert KubeLoader.yaml_constructors is not yaml.SafeLoader.yaml_constructors
