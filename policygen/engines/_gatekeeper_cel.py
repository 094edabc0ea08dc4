"""A ConstraintTemplate's ``K8sNativeValidation`` code (CEL), evaluated as
Gatekeeper's CEL driver does (gatekeeper ``pkg/drivers/k8scel``: driver.go,
transform/cel_snippets.go, schema/schema.go), with the real CEL runtime.

- Variables first: ``anyObject`` (``oldObject`` on a DELETE without
  ``object``), ``params`` (the Constraint's ``spec.parameters``, null when
  absent), then the template's own, in order, each seeing those before it.
- ``object`` is unset on DELETE (Kubernetes does not set it for a VAP), and
  ``namespaceObject`` is what the review carries (null under ``gator``).
- Variables are lazy in Kubernetes: one that fails is an error only where
  an evaluation reaches it. Here each is evaluated in order, and a failed
  one is left out of ``variables``, so an expression that reaches it fails
  and one that does not (a ``filter`` over nothing) does not.
- cel-go's presence test on a value that is not a map (``has(x.f)`` with
  ``x`` null, as ``variables.params`` is for a Constraint without
  parameters) is false; the C++ runtime errs. ``has(x.f)`` is evaluated as
  ``(x == null ? false : has(x.f))``.
- The template's matchConditions select; each validation that is not true
  fails with its messageExpression, else its message, else
  ``failed expression: <expression>``. An evaluation error follows
  ``failurePolicy`` (default Fail: the error is the result).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policygen.engines._cel_reads import activation_paths
from policygen.engines._projection import Path, minimal, project
from policygen.engines.vap import NUL, Cel, CelError, validation_message, without_nul
from policygen.errors import UnsupportedConstruct
from policygen.memo import MISSING, Memo, fingerprint

SOURCE_FIELDS = {"validations", "variables", "matchConditions", "failurePolicy", "generateVAP"}
#: Names the driver binds itself (schema.go ``ParamsName``, ``ObjectName``).
RESERVED = {"params", "anyObject"}


@dataclass(frozen=True)
class _Failed:
    error: str


class CelTemplate:
    def __init__(self, kind: str, source: Mapping[str, Any]) -> None:
        self.kind = kind
        unknown = set(source) - SOURCE_FIELDS
        if unknown:
            raise UnsupportedConstruct(
                "gatekeeper", f"{kind}: K8sNativeValidation", ", ".join(sorted(unknown))
            )
        self.source = source
        self.failure_policy = str(source.get("failurePolicy") or "Fail")
        self._cel = Cel("gatekeeper")
        self.variables = list(source.get("variables") or [])
        for v in self.variables:
            name = str(v.get("name", ""))
            if name in RESERVED or name.startswith("gatekeeper_internal_"):
                raise UnsupportedConstruct(
                    "gatekeeper", f"{kind}: variable {name}", "a name the driver reserves"
                )
        # Compile everything now: a template that does not compile is refused
        # before any review, as Gatekeeper rejects it.
        for at, expression in self._expressions():
            self._cel.compile(null_safe_has(expression), f"{kind} {at}")
        self.reads = review_reads([e for _, e in self._expressions()])
        #: each variable's value by what it reads (fast path; Memo(0): off)
        self.memo: Memo[tuple[int, bytes], Any] = Memo(VARIABLE_MEMO_SIZE)
        self._variable_reads = [_variable_reads(str(v["expression"])) for v in self.variables]
        self._params_print: tuple[Any, str | None, bytes] | None = None

    def _expressions(self) -> list[tuple[str, str]]:
        out = [(f"variable {v['name']}", str(v["expression"])) for v in self.variables]
        for m in self.source.get("matchConditions") or []:
            out.append((f"matchCondition {m['name']}", str(m["expression"])))
        for i, v in enumerate(self.source.get("validations") or []):
            out.append((f"validations[{i}]", str(v["expression"])))
            if v.get("messageExpression"):
                out.append((f"validations[{i}].messageExpression", str(v["messageExpression"])))
        return out

    def review(self, review: Mapping[str, Any], parameters: Mapping[str, Any] | None) -> list[str]:
        """The messages of the failed validations for one review."""
        operation = review.get("operation")
        obj = None if operation == "DELETE" else review.get("object")
        old = review.get("oldObject")
        request = {
            k: v for k, v in review.items() if k not in ("object", "oldObject", "namespaceObject")
        }
        activation: dict[str, Any] = {
            "object": obj,
            "oldObject": old,
            "request": request,
            "namespaceObject": review.get("namespaceObject"),
        }
        bound, placeholder = without_nul(  # the binding cuts strings at NUL
            {
                **activation,
                "variables": {
                    "anyObject": old if operation == "DELETE" and obj is None else obj,
                    "params": None if parameters is None else dict(parameters),
                },
            }
        )
        variables: dict[str, Any] = bound.pop("variables")
        activation = bound
        found = self._review(activation, variables, self._params_key(parameters, placeholder))
        return found if placeholder is None else [m.replace(placeholder, NUL) for m in found]

    def _params_key(self, parameters: Mapping[str, Any] | None, placeholder: str | None) -> bytes:
        """The fingerprint of ``variables.params`` as bound: the Constraint's
        parameters are the same object review after review, so it is taken
        once (the object is held, so its id is not reused meanwhile)."""
        kept = self._params_print
        if kept is not None and kept[0] is parameters and kept[1] == placeholder:
            return kept[2]
        value = None if parameters is None else dict(parameters)
        bound, _ = without_nul({"params": value}, placeholder)
        key = fingerprint(bound["params"])
        self._params_print = (parameters, placeholder, key)
        return key

    def _review(
        self, activation: dict[str, Any], variables: dict[str, Any], params_key: bytes
    ) -> list[str]:
        try:
            for m in self.source.get("matchConditions") or []:
                if self._eval(str(m["expression"]), activation, variables, m["name"]) is not True:
                    return []
        except CelError as exc:
            return self._error(str(exc))
        for index, v in enumerate(self.variables):
            key = self._variable_key(index, activation, variables, params_key)
            if key is not None:
                kept = self.memo.get(key)
                if kept is not MISSING:
                    variables[v["name"]] = kept
                    continue
            try:
                value = self._eval(str(v["expression"]), activation, variables, v["name"])
            except CelError as exc:
                value = _Failed(str(exc))
            variables[v["name"]] = value
            if key is not None:
                self.memo.put(key, value)
        out: list[str] = []
        for i, validation in enumerate(self.source.get("validations") or []):
            expression = str(validation["expression"])
            try:
                ok = self._eval(expression, activation, variables, f"validations[{i}]")
            except CelError as exc:
                out.extend(
                    self._error(f"expression '{expression.strip()}' resulted in error: {exc}")
                )
                continue
            if ok is not True:
                out.append(self._message(validation, activation, variables))
        return out

    def _variable_key(
        self,
        index: int,
        activation: Mapping[str, Any],
        variables: Mapping[str, Any],
        params_key: bytes,
    ) -> tuple[int, bytes] | None:
        """What variable ``index`` depends on: the parts of the activation its
        expression can read, and the values (or errors) of the variables it
        names; None when that cannot be told, or the memo is off."""
        reads = self._variable_reads[index]
        if reads is None or not self.memo.maxsize:
            return None
        paths, names = reads
        parts: list[Any] = [project(activation, paths)]
        for name in names:
            if name == "params":
                parts.append(params_key)
                continue
            value = variables.get(name, _ABSENT)
            parts.append(("failed", value.error) if isinstance(value, _Failed) else value)
        return index, fingerprint(parts)

    def _error(self, message: str) -> list[str]:
        return [message] if self.failure_policy == "Fail" else []

    def _eval(
        self,
        expression: str,
        activation: Mapping[str, Any],
        variables: Mapping[str, Any],
        at: str,
    ) -> Any:
        plain = {k: v for k, v in variables.items() if not isinstance(v, _Failed)}
        try:
            return self._cel.eval(
                null_safe_has(expression), {**activation, "variables": plain}, f"{self.kind} {at}"
            )
        except CelError:
            # Reached a variable that failed: that variable's error is the one.
            for name in _VARIABLE.findall(expression):
                value = variables.get(name)
                if isinstance(value, _Failed):
                    raise CelError(value.error) from None
            raise

    def _message(
        self,
        validation: Mapping[str, Any],
        activation: Mapping[str, Any],
        variables: Mapping[str, Any],
    ) -> str:
        # Gatekeeper's k8scel driver hands its decisions to the API server's
        # validator (validating.NewValidator), so the message is chosen as a
        # ValidatingAdmissionPolicy's is.
        return validation_message(
            validation, lambda expression: self._eval(expression, activation, variables, "message")
        )


def review_reads(expressions: list[str]) -> frozenset[Path] | None:
    """The paths under ``input.review`` (root ``review``) that the driver's
    activation lets ``expressions`` read; None: all of it. ``request`` is
    the review itself, and the operation always counts (it decides whether
    ``object`` is set and what ``anyObject`` is)."""
    paths = _activation_reads(expressions)
    if paths is None:
        return None
    out: set[Path] = {("review", "operation")}
    for root, *rest in paths:
        out.add(("review", *rest) if root == "request" else ("review", root, *rest))
    return minimal(out)


#: A variable not (yet) bound, in a key: unlike any value, null included.
_ABSENT = ("absent",)
#: Variables' values kept per template: a scan's namespaces and images
#: repeat, and a 1,000-tenant Constraint's parameters convert into CEL at a
#: cost each time an expression reads them.
VARIABLE_MEMO_SIZE = 8192
#: ``variables`` read other than as ``variables.<name>``: not followed.
_OPAQUE_VARIABLES = re.compile(r"\bvariables\b(?!\s*\.\s*[A-Za-z_])")


def _variable_reads(expression: str) -> tuple[frozenset[Path], tuple[str, ...]] | None:
    """The activation paths and the variable names ``expression`` reads
    (``params`` as a name: it travels with the Constraint); None when the
    reads cannot be told."""
    if _OPAQUE_VARIABLES.search(expression):
        return None
    paths = _activation_reads([expression])
    if paths is None:
        return None
    names = sorted(set(_VARIABLE.findall(expression)) - {"anyObject"})
    return paths, tuple(names)


def _activation_reads(expressions: list[str]) -> frozenset[Path] | None:
    """What of the driver's activation (``object``, ``oldObject``,
    ``request``, ``namespaceObject``) ``expressions`` can read;
    ``anyObject`` as both objects and the operation that picks one. None
    when it cannot be told, or a root the driver does not bind is read.
    ``params`` is left out: its value travels with the Constraint."""
    # anyObject is object or oldObject: read as both.
    paths = activation_paths(
        [e.replace("variables.anyObject", root) for e in expressions for root in _ANY_OBJECT]
    )
    if paths is None:
        return None
    out = {p for p in paths if p[0] != "params"}
    if any(p[0] not in _ACTIVATION_ROOTS for p in out):
        return None
    if any("variables.anyObject" in e for e in expressions):
        out.add(("request", "operation"))
    return minimal(out)


_ANY_OBJECT = ("object", "oldObject")
_ACTIVATION_ROOTS = frozenset({"object", "oldObject", "request", "namespaceObject"})

_VARIABLE = re.compile(r"\bvariables\.([A-Za-z_][A-Za-z0-9_]*)")
_CEL_TOKEN = re.compile(
    r"""(?P<string>[rRbB]*(?:'{3}.*?'{3}|"{3}.*?"{3}|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"))"""
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<space>\s+)|(?P<other>.)",
    re.DOTALL,
)


# Cached: the driver evaluates the same few template expressions for every
# review, and tokenising one costs more than evaluating it.
@functools.lru_cache(maxsize=4096)
def null_safe_has(expression: str) -> str:
    """Every ``has(x.f)`` as ``(x == null ? false : has(x.f))``."""
    tokens = [(m.lastgroup, m.group()) for m in _CEL_TOKEN.finditer(expression)]
    if not any(kind == "name" and text == "has" for kind, text in tokens):
        return expression
    return "".join(_rewrite(tokens))


def _rewrite(tokens: list[tuple[str | None, str]]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        j = i + 1
        while j < len(tokens) and tokens[j][0] == "space":
            j += 1
        if kind == "name" and text == "has" and j < len(tokens) and tokens[j][1] == "(":
            end = _closing(tokens, j)
            inner = tokens[j + 1 : end]
            dot = _last_dot(inner)
            if end > j and dot is not None:
                operand = "".join(_rewrite(inner[:dot]))
                field_ = "".join(t for _, t in inner[dot + 1 :])
                out.append(f"({operand} == null ? false : has({operand}.{field_}))")
                i = end + 1
                continue
        out.append(text)
        i += 1
    return out


def _closing(tokens: list[tuple[str | None, str]], opening: int) -> int:
    depth = 0
    for k in range(opening, len(tokens)):
        text = tokens[k][1]
        if text in "([{":
            depth += 1
        elif text in ")]}":
            depth -= 1
            if depth == 0:
                return k
    return opening  # unbalanced: left for the compiler to report


def _last_dot(tokens: list[tuple[str | None, str]]) -> int | None:
    depth = 0
    last = None
    for k, (kind, text) in enumerate(tokens):
        if kind == "string":
            continue
        if text in "([{":
            depth += 1
        elif text in ")]}":
            depth -= 1
        elif text == "." and depth == 0:
            last = k
    return last
