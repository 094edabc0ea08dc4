"""Plain YAML scalars resolved as Kubernetes resolves them.

kubectl and the API server turn YAML into JSON with sigs.k8s.io/yaml, whose
decoder is its fork of go-yaml v2 (``goyaml.v2/resolve.go``). Its implicit
types differ from PyYAML's YAML 1.1 resolver, and a manifest must mean here
what it means to the cluster:

- a bare ``=`` is the string "=" (PyYAML tags it ``!!value`` and then has no
  constructor for it, so kube-prometheus' ``args: [--op, =]`` failed);
- ``y``/``Y``/``n``/``N`` are booleans, as are yes/no/on/off/true/false in
  three spellings each;
- there are no base-60 numbers: ``22:22`` is a string, not 1342;
- integers are what Go's ``strconv.ParseInt(s, 0, 64)`` accepts once
  underscores are removed (``0x1F``, ``0o17``, ``0b101``, ``0777`` octal);
- floats need no dot (``1e3`` is 1000.0);
- timestamps stay strings (go-yaml v2 keeps the text when decoding into
  ``interface{}``), so ``2024-01-01`` is "2024-01-01", not a ``date``;
- keys become JSON's strings as sigs.k8s.io/yaml converts them (``yaml.go``,
  ``convertToJSONableObject``): ``1: a`` has the key "1", ``y: a`` the key
  "true"; a null key is an error.

Only untagged plain scalars are affected; quoted scalars are strings and an
explicit tag (``!!int "3"``) keeps PyYAML's meaning. The loader is a
subclass: PyYAML's global resolvers are left alone.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

try:  # libyaml's parser reads the stream as it goes
    _Base: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader

STR = "tag:yaml.org,2002:str"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
NULL = "tag:yaml.org,2002:null"
MERGE = "tag:yaml.org,2002:merge"

#: go-yaml v2's table of whole-value spellings.
_EXACT: dict[str, tuple[str, Any]] = {
    **{s: (BOOL, True) for s in ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE")},
    **{s: (BOOL, True) for s in ("on", "On", "ON")},
    **{s: (BOOL, False) for s in ("n", "N", "no", "No", "NO", "false", "False", "FALSE")},
    **{s: (BOOL, False) for s in ("off", "Off", "OFF")},
    **{s: (NULL, None) for s in ("", "~", "null", "Null", "NULL")},
    **{s: (FLOAT, math.nan) for s in (".nan", ".NaN", ".NAN")},
    **{s: (FLOAT, math.inf) for s in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{s: (FLOAT, -math.inf) for s in ("-.inf", "-.Inf", "-.INF")},
    "<<": (MERGE, "<<"),
}
#: What Go's ParseInt accepts with base 0 (after underscores are removed).
_INT = re.compile(r"[-+]?(?:0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
#: go-yaml's ``yamlStyleFloat``.
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
#: A leading '.' may still be a float; digits and signs may be numbers.
_NUMERIC_START = frozenset("+-0123456789")
_INT64 = 2**63
_UINT64 = 2**64


def resolve_plain(text: str) -> tuple[str, Any]:
    """The tag and value go-yaml v2 gives an untagged plain scalar."""
    exact = _EXACT.get(text)
    if exact is not None:
        return exact
    if not text:
        return STR, text
    first = text[0]
    if first == ".":
        if _FLOAT.fullmatch(text):
            return FLOAT, float(text)
        return STR, text
    if first not in _NUMERIC_START:
        return STR, text
    plain = text.replace("_", "")
    if _INT.fullmatch(plain):
        value = _go_int(plain)
        # go-yaml tries int64, then uint64, then its float pattern, and only
        # then a big integer: a huge decimal becomes a float, a huge hex not.
        if -_INT64 <= value < _UINT64 or not _FLOAT.fullmatch(plain):
            return INT, value
    if _FLOAT.fullmatch(plain):
        return FLOAT, float(plain)
    return STR, text


def _go_int(plain: str) -> int:
    sign = -1 if plain[0] == "-" else 1
    digits = plain.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1] not in "bBoOxX":
        return sign * int(digits, 8)  # Go reads a leading 0 as octal
    return sign * int(digits, 0)


def json_key(key: Any) -> str | None:
    """A scalar map key as sigs.k8s.io/yaml writes it into JSON, or None when it has no JSON form.

    The go-yaml -> JSON conversion stringifies bools, ints and floats (Go's formatting of
    NaN and infinities included); anything else is a key Kubernetes cannot read.
    """
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        if math.isnan(key):
            return ".nan"
        if math.isinf(key):
            return ".inf" if key > 0 else "-.inf"
        return repr(key)
    return None


def _json_key(key: Any, node: yaml.Node) -> str:
    converted = json_key(key)
    if converted is None:
        problem = f"unsupported map key {key!r} (Kubernetes accepts only scalars)"
        raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)
    return converted


class KubeLoader(_Base):  # type: ignore[misc, valid-type]
    """A safe loader whose plain scalars resolve as go-yaml v2 resolves them."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return resolve_plain(value)[0]
        return super().resolve(kind, value, implicit)

    def _plain_value(self, node: yaml.ScalarNode) -> Any:
        # A plain scalar gets go-yaml's value; an explicitly tagged one
        # (node.style is None for plain) falls back to PyYAML's reading.
        if node.style is None or node.style == "":
            tag, value = resolve_plain(node.value)
            if tag == node.tag:
                return value
        return None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
        # Keys are converted as they are read: 1 and true are one Python key
        # but two JSON keys ("1", "true").
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if type(key) is not str:
                key = _json_key(key, key_node)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_kube_bool(self, node: yaml.ScalarNode) -> Any:
        value = self._plain_value(node)
        return value if value is not None else self.construct_yaml_bool(node)

    def construct_kube_int(self, node: yaml.ScalarNode) -> Any:
        value = self._plain_value(node)
        return value if value is not None else self.construct_yaml_int(node)

    def construct_kube_float(self, node: yaml.ScalarNode) -> Any:
        value = self._plain_value(node)
        return value if value is not None else self.construct_yaml_float(node)


KubeLoader.add_constructor(BOOL, KubeLoader.construct_kube_bool)
KubeLoader.add_constructor(INT, KubeLoader.construct_kube_int)
KubeLoader.add_constructor(FLOAT, KubeLoader.construct_kube_float)


def load_all(text: str) -> list[Any]:
    """Every document of ``text``, read as Kubernetes reads it."""
    return list(yaml.load_all(text, Loader=KubeLoader))
