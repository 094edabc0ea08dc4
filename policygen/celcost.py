"""An upper bound of what a CEL expression costs under cel-go's cost model,
for the CEL policygen writes, given upper bounds on the sizes of its inputs.

The API server stops an expression whose runtime cost passes
``PerCallLimit`` (1,000,000) and a binding whose expressions together pass
``RuntimeCELCostBudget`` (10,000,000); match conditions have 2,500,000
(k8s ``apiserver/pkg/apis/cel/config.go``). The runtime cost
(cel-go ``interpreter/runtimecost.go``) charges each operation what the
static estimator (``checker/cost.go``) charges it, from the actual sizes;
Kubernetes adds its library's costs (``apiserver/pkg/cel/library/cost.go``:
``split``, ``replace``, ``substring``, ``lowerAscii``, ``indexOf`` on lists and
strings).
This module charges the same amounts, node by node, with the largest size
each value can have:

- a literal 0; an identifier 1; a field selection 1 more than its operand;
  an index 1 more than its operands; ``has()`` 1 more;
- a list literal 10 plus its elements, a map literal 30 plus its entries;
- ``&&`` and ``||`` the sum of both sides, ``?:`` the condition plus the
  dearer branch, other calls 1 plus their arguments, except:
- ``s.matches(re)``: ``ceil((size(s) + 1) × 0.1) × ceil(size(re) × 0.25)``;
  ``s.contains(t)``: ``ceil(size(s) × 0.1) × ceil(size(t) × 0.1)``;
  ``s.startsWith(t)``: ``ceil(size(t) × 0.1)``; ``==``, ``!=``, ``<``…:
  ``ceil(min size × 0.1)`` (1 for scalars); string ``+``:
  ``ceil((size(a) + size(b)) × 0.1)``; ``x in list``: the list's size;
  ``s.split(t)`` and ``s.replace(a, b)`` (literals ``a``, ``b``):
  ``ceil(size(s) × 0.2)``; ``substring`` and
  ``lowerAscii``: ``ceil(size(s) × 0.1)``; ``s.lastIndexOf(t)``:
  ``ceil(size(s) × 0.1)``; ``list.indexOf(x)``: the list's size (times
  ``1 + ceil(element size × 0.1)`` for strings);
- a comprehension (``map``, ``filter``, ``all``, ``exists`` as cel-go's
  parser expands them): its range, its initial accumulator, and per
  element its loop condition and step (``map``: 12 + the function,
  ``filter``: 13 + the predicate, ``all``: 3 + the predicate, ``exists``:
  4 + the predicate), plus 1 for the result.

Sizes are bounded from the inputs' (``Envelope``) through each operation: a
substring or a split part is no longer than its string, a concatenation no
longer than its parts together, a ``map`` as long as its range, a
``filter`` no longer; the one bound cel-go cannot see is a variable whose
size the config fixes (``Envelope.variables``), such as how many tenants can
own one namespace. An expression outside this subset is refused
(``Unsupported``), never guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STRING_TRAVERSAL = 0.1
REGEX_LENGTH = 0.25
LIST_CREATE = 10
MAP_CREATE = 30
PER_CALL_LIMIT = 1_000_000
BINDING_BUDGET = 10_000_000
MATCH_CONDITIONS_BUDGET = 2_500_000


class Unsupported(Exception):
    """An expression this estimator does not cover."""


# --- shapes: the largest value an expression can have --------------------------


@dataclass(frozen=True)
class Str:
    size: int


@dataclass(frozen=True)
class Scalar:
    """bool, int, null: size 1."""


@dataclass(frozen=True)
class Lst:
    size: int
    item: Shape


@dataclass(frozen=True)
class Rec:
    """An object or a map literal with known keys."""

    fields: Mapping[str, Shape]


@dataclass(frozen=True)
class Dict:
    """A map with unknown keys (labels)."""

    size: int
    key: Shape
    value: Shape


Shape = Str | Scalar | Lst | Rec | Dict
SCALAR = Scalar()


def size_of(shape: Shape) -> int:
    if isinstance(shape, Str | Lst | Dict):
        return shape.size
    if isinstance(shape, Rec):
        return len(shape.fields)
    return 1


def union(a: Shape, b: Shape) -> Shape:
    """The smallest shape covering both."""
    if isinstance(a, Str) and isinstance(b, Str):
        return Str(max(a.size, b.size))
    if isinstance(a, Lst) and isinstance(b, Lst):
        if a.size == 0:
            return b
        if b.size == 0:
            return a
        return Lst(max(a.size, b.size), union(a.item, b.item))
    if isinstance(a, Rec) and isinstance(b, Rec):
        keys = set(a.fields) | set(b.fields)
        return Rec(
            {
                k: union(a.fields[k], b.fields[k])
                if k in a.fields and k in b.fields
                else a.fields.get(k) or b.fields[k]
                for k in sorted(keys)
            }
        )
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        return SCALAR
    # the empty map literal beside a map of unknown keys (``... : {}``)
    if isinstance(a, Dict) and isinstance(b, Rec) and not b.fields:
        return a
    if isinstance(b, Dict) and isinstance(a, Rec) and not a.fields:
        return b
    if isinstance(a, Dict) and isinstance(b, Dict):
        return Dict(max(a.size, b.size), union(a.key, b.key), union(a.value, b.value))
    raise Unsupported(f"values of different kinds meet: {a} and {b}")


def _ceil(x: float) -> int:
    return math.ceil(x - 1e-9) if x > 0 else 0


# --- parsing ---------------------------------------------------------------------

TOKEN = re.compile(
    r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    |(?P<num>\d+)
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:.,()\[\]{}])
    )""",
    re.VERBOSE,
)
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "/": "/"}


def _unquote(text: str) -> str:
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif nxt in ESCAPES:
            out.append(ESCAPES[nxt])
            i += 2
        else:
            raise Unsupported(f"escape \\{nxt}")
    return "".join(out)


Node = tuple[Any, ...]  # (kind, ...)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise Unsupported(f"cannot read {text[pos : pos + 20]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> str:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        tok = self.tokens[self.i]
        if expected is not None and tok[1] != expected:
            raise Unsupported(f"expected {expected!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.ternary()
        if self.i != len(self.tokens):
            raise Unsupported(f"unexpected {self.peek()!r}")
        return node

    def ternary(self) -> Node:
        cond = self.binary(0)
        if self.peek() == "?":
            self.take("?")
            yes = self.ternary()
            self.take(":")
            no = self.ternary()
            return ("?:", cond, yes, no)
        return cond

    LEVELS = (("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">=", "in"), ("+", "-"))

    def binary(self, level: int) -> Node:
        if level == len(self.LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self.LEVELS[level]:
            op = self.take()[1]
            right = self.binary(level + 1)
            left = ("call", op, None, [left, right])
        return left

    def unary(self) -> Node:
        if self.peek() in ("!", "-"):
            op = self.take()[1]
            return ("call", op, None, [self.unary()])
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                name = self.take()[1]
                is_call = self.peek() == "("
                node = self.call(name, node) if is_call else ("select", node, name)
            else:
                index = self.ternary()
                self.take("]")
                node = ("index", node, index)
        return node

    def args(self) -> list[Node]:
        self.take("(")
        out = []
        while self.peek() != ")":
            out.append(self.ternary())
            if self.peek() == ",":
                self.take(",")
        self.take(")")
        return out

    def call(self, name: str, target: Node | None) -> Node:
        if target is not None and name in ("map", "filter", "all", "exists"):
            self.take("(")
            var = self.take()[1]
            self.take(",")
            body = self.ternary()
            self.take(")")
            return ("comp", name, target, var, body)
        args = self.args()
        if name == "has" and target is None:
            if len(args) != 1 or args[0][0] != "select":
                raise Unsupported("has() of something not a field")
            return ("has", args[0])
        return ("call", name, target, args)

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "str":
            return ("lit", Str(len(_unquote(text))), _unquote(text))
        if kind == "num":
            return ("lit", SCALAR, int(text))
        if kind == "name":
            if text in ("true", "false", "null"):
                return ("lit", SCALAR, text)
            if self.peek() == "(":
                return self.call(text, None)
            return ("ident", text)
        if text == "(":
            node = self.ternary()
            self.take(")")
            return node
        if text == "[":
            items = []
            while self.peek() != "]":
                items.append(self.ternary())
                if self.peek() == ",":
                    self.take(",")
            self.take("]")
            return ("list", items)
        if text == "{":
            entries = []
            while self.peek() != "}":
                key = self.ternary()
                self.take(":")
                entries.append((key, self.ternary()))
                if self.peek() == ",":
                    self.take(",")
            self.take("}")
            return ("map", entries)
        raise Unsupported(f"unexpected {text!r}")


def parse(expression: str) -> Node:
    return _Parser(expression).parse()


# --- estimating --------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """Upper bounds on what an expression reads: ``roots`` for the admission
    variables, ``variables`` for policy variables whose size the config
    fixes (by name: the largest list they can hold, overriding what the
    expression alone implies)."""

    roots: Mapping[str, Shape]
    variables: Mapping[str, int] = field(default_factory=dict)


@dataclass
class Estimate:
    cost: int
    shape: Shape


class Estimator:
    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope
        self.variables: dict[str, Shape] = {}

    def declare(self, name: str, expression: str) -> int:
        """Estimate a policy variable, keep its shape for the expressions
        after it, and return its own cost (charged once: the API server
        evaluates a variable once per request)."""
        est = self.estimate(expression)
        shape = est.shape
        if name in self.envelope.variables and isinstance(shape, Lst):
            shape = Lst(min(shape.size, self.envelope.variables[name]), shape.item)
        self.variables[name] = shape
        return est.cost

    def estimate(self, expression: str) -> Estimate:
        return self._node(parse(expression), {})

    def _node(self, node: Node, local: dict[str, Shape]) -> Estimate:
        kind = node[0]
        if kind == "lit":
            return Estimate(0, node[1])
        if kind == "ident":
            name = node[1]
            if name in local:
                return Estimate(1, local[name])
            if name == "variables":
                return Estimate(1, Rec(dict(self.variables)))
            if name in self.envelope.roots:
                return Estimate(1, self.envelope.roots[name])
            raise Unsupported(f"unknown identifier {name}")
        if kind == "select":
            operand = self._node(node[1], local)
            return Estimate(operand.cost + 1, self._field(operand.shape, node[2]))
        if kind == "has":
            operand = self._node(node[1][1], local)
            return Estimate(operand.cost + 1, SCALAR)
        if kind == "index":
            target, index = self._node(node[1], local), self._node(node[2], local)
            cost = target.cost + index.cost + 1
            if isinstance(target.shape, Lst):
                return Estimate(cost, target.shape.item)
            if isinstance(target.shape, Dict):
                return Estimate(cost, target.shape.value)
            if isinstance(target.shape, Rec) and node[2][0] == "lit":
                return Estimate(cost, self._field(target.shape, node[2][2]))
            raise Unsupported(f"index into {target.shape}")
        if kind == "list":
            items = [self._node(n, local) for n in node[1]]
            item: Shape = Lst(0, SCALAR)
            shapes = [i.shape for i in items]
            if shapes:
                item = shapes[0]
                for s in shapes[1:]:
                    item = union(item, s)
            return Estimate(LIST_CREATE + sum(i.cost for i in items), Lst(len(items), item))
        if kind == "map":
            cost, fields = MAP_CREATE, {}
            for key, value in node[1]:
                if key[0] != "lit" or not isinstance(key[2], str):
                    raise Unsupported("a map literal with a key not a string")
                est = self._node(value, local)
                cost += est.cost
                fields[key[2]] = est.shape
            return Estimate(cost, Rec(fields))
        if kind == "?:":
            cond = self._node(node[1], local)
            yes, no = self._node(node[2], local), self._node(node[3], local)
            return Estimate(cond.cost + max(yes.cost, no.cost), union(yes.shape, no.shape))
        if kind == "comp":
            return self._comprehension(node, local)
        if kind == "call":
            return self._call(node, local)
        raise Unsupported(kind)

    def _field(self, shape: Shape, name: str) -> Shape:
        if isinstance(shape, Rec):
            if name not in shape.fields:
                raise Unsupported(f"no field {name} in the envelope")
            return shape.fields[name]
        if isinstance(shape, Dict):
            return shape.value
        raise Unsupported(f"field {name} of {shape}")

    def _comprehension(self, node: Node, local: dict[str, Shape]) -> Estimate:
        _, macro, target, var, body = node
        rng = self._node(target, local)
        if not isinstance(rng.shape, Lst):
            raise Unsupported(f"{macro} over {rng.shape}")
        inner = {**local, var: rng.shape.item}
        fn = self._node(body, inner)
        # per element: loop condition + step, as parser/macro.go builds them
        steps: dict[str, tuple[int, int, Shape]] = {
            "map": (12 + fn.cost, LIST_CREATE, Lst(rng.shape.size, fn.shape)),
            "filter": (13 + fn.cost, LIST_CREATE, rng.shape),
            "all": (3 + fn.cost, 0, SCALAR),
            "exists": (4 + fn.cost, 0, SCALAR),
        }
        per, init, shape = steps[macro]
        return Estimate(rng.cost + init + rng.shape.size * per + 1, shape)

    def _call(self, node: Node, local: dict[str, Shape]) -> Estimate:
        _, name, target_node, arg_nodes = node
        target = self._node(target_node, local) if target_node is not None else None
        args = [self._node(a, local) for a in arg_nodes]
        base = (target.cost if target else 0) + sum(a.cost for a in args)
        t = target.shape if target else None
        shapes = [a.shape for a in args]
        if name in ("&&", "||"):
            return Estimate(base, SCALAR)
        if name in ("==", "!=", "<", "<=", ">", ">="):
            low = min(size_of(shapes[0]), size_of(shapes[1]))
            return Estimate(base + max(_ceil(low * STRING_TRAVERSAL), 1 if low else 0), SCALAR)
        if name == "+":
            a, b = shapes
            if isinstance(a, Str) and isinstance(b, Str):
                total = a.size + b.size
                return Estimate(base + _ceil(total * STRING_TRAVERSAL), Str(total))
            if isinstance(a, Lst) and isinstance(b, Lst):
                item = b.item if a.size == 0 else a.item if b.size == 0 else union(a.item, b.item)
                return Estimate(base + 1, Lst(a.size + b.size, item))
            return Estimate(base + 1, SCALAR)
        if name == "in":
            container = shapes[1]
            if isinstance(container, Lst):
                return Estimate(base + container.size, SCALAR)
            return Estimate(base + 1, SCALAR)
        if name in ("!", "-", "size", "@not_strictly_false"):
            return Estimate(base + 1, SCALAR)
        if not isinstance(t, Str | Lst):
            raise Unsupported(f"{name}() on {t}")
        if name == "matches" and isinstance(t, Str) and isinstance(shapes[0], Str):
            cost = _ceil((t.size + 1) * STRING_TRAVERSAL) * _ceil(shapes[0].size * REGEX_LENGTH)
            return Estimate(base + cost, SCALAR)
        if name == "contains" and isinstance(t, Str) and isinstance(shapes[0], Str):
            cost = _ceil(t.size * STRING_TRAVERSAL) * _ceil(shapes[0].size * STRING_TRAVERSAL)
            return Estimate(base + cost, SCALAR)
        if name in ("startsWith", "endsWith") and isinstance(shapes[0], Str):
            return Estimate(base + _ceil(shapes[0].size * STRING_TRAVERSAL), SCALAR)
        if name == "split" and isinstance(t, Str):
            return Estimate(base + _ceil(t.size * 2 * STRING_TRAVERSAL), Lst(t.size + 1, t))
        if name == "replace" and isinstance(t, Str) and len(arg_nodes) == 2:
            # charged as split is; the result is bounded only for literal
            # arguments (what the messages write: a line break as \\n)
            what, with_ = (n[2] if n[0] == "lit" else None for n in arg_nodes)
            if isinstance(what, str) and what and isinstance(with_, str):
                grows = max(0, len(with_) - len(what)) * (t.size // len(what))
                return Estimate(base + _ceil(t.size * 2 * STRING_TRAVERSAL), Str(t.size + grows))
        if name in ("substring", "lowerAscii") and isinstance(t, Str):
            return Estimate(base + _ceil(t.size * STRING_TRAVERSAL), t)
        if name in ("lastIndexOf", "indexOf") and isinstance(t, Str):
            return Estimate(base + _ceil(t.size * STRING_TRAVERSAL), SCALAR)
        if name in ("indexOf", "lastIndexOf") and isinstance(t, Lst):
            each = 1 + (_ceil(size_of(t.item) * STRING_TRAVERSAL) if isinstance(t.item, Str) else 0)
            return Estimate(base + t.size * each, SCALAR)
        raise Unsupported(f"function {name}")


def policy_costs(spec: Mapping[str, Any], envelope: Envelope) -> dict[str, int]:
    """Each expression of a policy (matchConditions, variables, validations
    with their messages) with its cost bound, in order. A variable is
    charged once, where it is defined."""
    est = Estimator(envelope)
    out: dict[str, int] = {}
    for i, c in enumerate(spec.get("matchConditions") or []):
        out[f"matchConditions[{i}] {c['name']}"] = est.estimate(c["expression"]).cost
    for v in spec.get("variables") or []:
        out[f"variables.{v['name']}"] = est.declare(v["name"], v["expression"])
    for i, v in enumerate(spec.get("validations") or []):
        out[f"validations[{i}]"] = est.estimate(v["expression"]).cost
        if "messageExpression" in v:
            out[f"validations[{i}].messageExpression"] = est.estimate(v["messageExpression"]).cost
    return out
