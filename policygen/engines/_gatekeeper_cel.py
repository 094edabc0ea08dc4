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
from policygen.engines._projection import Path, minimal
from policygen.engines.vap import NUL, Cel, CelError, validation_message, without_nul
from policygen.errors import UnsupportedConstruct

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
        found = self._review(activation, variables)
        return found if placeholder is None else [m.replace(placeholder, NUL) for m in found]

    def _review(self, activation: dict[str, Any], variables: dict[str, Any]) -> list[str]:
        try:
            for m in self.source.get("matchConditions") or []:
                if self._eval(str(m["expression"]), activation, variables, m["name"]) is not True:
                    return []
        except CelError as exc:
            return self._error(str(exc))
        for v in self.variables:
            try:
                variables[v["name"]] = self._eval(
                    str(v["expression"]), activation, variables, v["name"]
                )
            except CelError as exc:
                variables[v["name"]] = _Failed(str(exc))
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
    the review itself, ``params`` travel with the Constraint, and the
    operation always counts (it decides whether ``object`` is set and what
    ``anyObject`` is)."""
    # anyObject is object or oldObject: read as both.
    paths = activation_paths(
        [e.replace("variables.anyObject", root) for e in expressions for root in _ANY_OBJECT]
    )
    if paths is None:
        return None
    out: set[Path] = {("review", "operation")}
    for root, *rest in paths:
        if root == "params":
            continue
        if root in ("object", "oldObject", "namespaceObject"):
            out.add(("review", root, *rest))
        elif root == "request":
            out.add(("review", *rest))
        else:  # not bound by Gatekeeper's driver: an error either way, read it all
            return None
    return minimal(out)


_ANY_OBJECT = ("object", "oldObject")


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
