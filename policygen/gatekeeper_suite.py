"""``gator verify`` suites (``test.gatekeeper.sh/v1alpha1`` Suite) run through
policygen's Gatekeeper evaluator.

Semantics follow gatekeeper ``pkg/gator/verify`` (notes/gatekeeper.md §6):
paths are relative to the suite and may not be absolute; each case gets a
fresh client holding the template, the constraint and the case's inventory;
the object is reviewed as written (no API-server defaulting, no mutators,
operation ``""``) unless it is an AdmissionReview; each assertion counts the
results whose message matches an unanchored, case-sensitive regular
expression and compares with ``yes`` (>= 1), ``no`` (0) or an exact number.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policygen.engines.gatekeeper import PolicySet, Request
from policygen.errors import InputError, UnsupportedConstruct
from policygen.rego.errors import RegoError
from policygen.rego.programs import resolve
from policygen.yamlio import load_all_fast, read_bounded, read_objects
from policygen.yamlsafe import MAX_DOCUMENT_BYTES, YamlProblem

SUITE_API = "test.gatekeeper.sh/v1alpha1"


@dataclass(frozen=True)
class Assertion:
    violations: str | int  # "yes" | "no" | exact count
    message: str | None

    def check(self, messages: list[str]) -> str | None:
        """None when it holds, else what went wrong."""
        pattern = re.compile(self.message) if self.message else None
        n = sum(1 for m in messages if pattern is None or pattern.search(m))
        want = self.violations
        ok = n >= 1 if want == "yes" else n == 0 if want == "no" else n == want
        if ok:
            return None
        about = f" matching /{self.message}/" if self.message else ""
        return f"got {n} violation(s){about}, want {want}"


@dataclass(frozen=True)
class Case:
    name: str
    object: Path
    inventory: tuple[Path, ...]
    assertions: tuple[Assertion, ...]
    skip: bool


@dataclass(frozen=True)
class Test:
    name: str
    template: Path
    constraint: Path
    expansion: Path | None
    cases: tuple[Case, ...]
    skip: bool


@dataclass(frozen=True)
class Suite:
    path: Path
    name: str
    tests: tuple[Test, ...]
    skip: bool


@dataclass(frozen=True)
class CaseResult:
    suite: str
    test: str
    case: str
    status: str  # pass | fail | skip | refused (the engine cannot evaluate it faithfully)
    failures: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return f"{self.suite}/{self.test}/{self.case}"


@dataclass
class VerifyReport:
    results: list[CaseResult] = field(default_factory=list)
    #: What evaluated the templates: Rego engines by name, and "cel".
    engines: set[str] = field(default_factory=set)

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def refused(self) -> list[CaseResult]:
        return [r for r in self.results if r.status == "refused"]


def find_suites(paths: list[Path]) -> list[Path]:
    """Suite files among ``paths``; a folder is searched recursively, as
    ``gator verify ./...`` does, and files of other kinds are skipped."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            out.extend(p for p in candidates if _is_suite(p))
        elif path.is_file():
            if not _is_suite(path):
                raise InputError.at(path, "kind", f"not a {SUITE_API} Suite")
            out.append(path)
        else:
            raise InputError.at(path, "", "no such file or folder")
    return out


def _is_suite(path: Path) -> bool:
    try:
        docs = load_all_fast(read_bounded(path, MAX_DOCUMENT_BYTES))
    except (InputError, YamlProblem):
        return False
    return any(
        isinstance(d, dict) and d.get("kind") == "Suite" and d.get("apiVersion") == SUITE_API
        for d in docs
    )


def load_suite(path: Path) -> Suite:
    docs = read_objects(path)
    doc = next(d for d in docs if d.get("kind") == "Suite")
    where = str(path)
    tests = []
    for i, t in enumerate(_list(doc, "tests", where, "tests")):
        at = f"tests[{i}]"
        if t.get("invalid"):
            raise UnsupportedConstruct("gator suite", f"{where}: {at}.invalid", "schema checks")
        cases = []
        for j, c in enumerate(_list(t, "cases", where, f"{at}.cases")):
            cat = f"{at}.cases[{j}]"
            raw = c.get("assertions") or []
            if not raw:
                raise InputError.at(
                    where, f"{cat}.assertions", "a case needs at least one assertion"
                )
            cases.append(
                Case(
                    name=str(c.get("name", f"case-{j}")),
                    object=_relative(path, c.get("object"), f"{cat}.object"),
                    inventory=tuple(
                        _relative(path, p, f"{cat}.inventory") for p in c.get("inventory") or []
                    ),
                    assertions=tuple(
                        _assertion(a, where, f"{cat}.assertions[{k}]") for k, a in enumerate(raw)
                    ),
                    skip=bool(c.get("skip")),
                )
            )
        expansion = t.get("expansion")
        tests.append(
            Test(
                name=str(t.get("name", f"test-{i}")),
                template=_relative(path, t.get("template"), f"{at}.template"),
                constraint=_relative(path, t.get("constraint"), f"{at}.constraint"),
                expansion=_relative(path, expansion, f"{at}.expansion") if expansion else None,
                cases=tuple(cases),
                skip=bool(t.get("skip")),
            )
        )
    name = str((doc.get("metadata") or {}).get("name") or path.stem)
    return Suite(path, name, tuple(tests), bool(doc.get("skip")))


def _assertion(raw: Any, file: str, at: str) -> Assertion:
    if not isinstance(raw, dict):
        raise InputError.at(file, at, "an assertion is a mapping")
    want = raw.get("violations", "yes")
    # YAML 1.1 reads bare yes/no as booleans; gator reads them as the words.
    if want is True:
        want = "yes"
    elif want is False:
        want = "no"
    if not (want in ("yes", "no") or (isinstance(want, int) and want >= 0)):
        raise InputError.at(file, f"{at}.violations", f"'{want}' is not yes, no or a count")
    message = raw.get("message")
    if message is not None:
        try:
            re.compile(str(message))
        except re.error as exc:
            raise InputError.at(file, f"{at}.message", f"not a regular expression: {exc}") from None
    return Assertion(want, None if message in (None, "") else str(message))


def _relative(suite: Path, value: Any, at: str) -> Path:
    if not isinstance(value, str) or not value:
        raise InputError.at(suite, at, "a path relative to the suite is required")
    if Path(value).is_absolute():
        raise InputError.at(suite, at, "absolute paths are not allowed (as in gator)")
    return suite.parent / value


def _list(doc: Mapping[str, Any], key: str, file: str, at: str) -> list[dict[str, Any]]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InputError.at(file, at, "a list of mappings is required")
    return value


def _one_object(path: Path) -> dict[str, Any]:
    objects = read_objects(path)
    if len(objects) != 1:
        raise InputError.at(path, "", f"exactly one object expected, found {len(objects)}")
    return objects[0]


def verify(
    paths: list[Path],
    rego_engine: str = "auto",
    run: str | None = None,
    *,
    cel: bool = True,
    now: dt.datetime | None = None,
) -> VerifyReport:
    """Run every suite under ``paths``; ``run`` filters ``test/case`` titles.
    ``cel``: evaluate a template's K8sNativeValidation code when it has
    some, as gator does by default; without, its Rego. ``now``: the clock
    the Rego's ``time.now_ns()`` reads (None: the engine's own, as gator's)."""
    selector = re.compile(run) if run else None
    report = VerifyReport()
    for suite_path in find_suites(paths):
        suite = load_suite(suite_path)
        for test in suite.tests:
            report.results.extend(_run_test(suite, test, rego_engine, selector, cel, report, now))
    return report


def _run_test(
    suite: Suite,
    test: Test,
    rego_engine: str,
    selector: re.Pattern[str] | None,
    cel: bool,
    report: VerifyReport,
    now: dt.datetime | None,
) -> Iterator[CaseResult]:
    policy_docs = [*read_objects(test.template), _one_object(test.constraint)]
    if test.expansion is not None:
        policy_docs.extend(read_objects(test.expansion))
    for case in test.cases:
        result = CaseResult(suite.name, test.name, case.name, "skip")
        if selector is not None and not selector.search(f"{test.name}/{case.name}"):
            continue
        if suite.skip or test.skip or case.skip:
            yield result
            continue
        yield _run_case(result, case, policy_docs, rego_engine, cel, report, now)


def _run_case(
    result: CaseResult,
    case: Case,
    policy_docs: list[dict[str, Any]],
    rego_engine: str,
    cel: bool,
    report: VerifyReport,
    now: dt.datetime | None,
) -> CaseResult:
    inventory = [obj for p in case.inventory for obj in read_objects(p)]
    data = {"inventory": _inventory_tree(inventory)}
    request = _request(_one_object(case.object), inventory, str(case.object))
    try:
        policies = PolicySet.load(policy_docs, rego_engine, data, cel=cel)
        if now is not None:
            policies.clock_ns = int(now.timestamp()) * 1_000_000_000
        report.engines.update(policies.engines)
        try:
            found = policies.review_many([request], cluster=False)[0]
        finally:
            policies.close()
    except (RegoError, UnsupportedConstruct) as exc:
        # The engine cannot evaluate this faithfully: no verdict, and the
        # run does not pass.
        report.engines.add(resolve(rego_engine))
        return CaseResult(result.suite, result.test, result.case, "refused", (str(exc),))
    messages = [r.msg for r in found]
    failures = tuple(f for a in case.assertions if (f := a.check(messages)) is not None)
    status = "fail" if failures else "pass"
    return CaseResult(
        result.suite, result.test, result.case, status, failures, tuple(sorted(messages))
    )


def _request(obj: dict[str, Any], inventory: list[dict[str, Any]], where: str) -> Request:
    operation = ""
    old: dict[str, Any] | None = None
    user: dict[str, Any] = {}
    request: dict[str, Any] | None = None
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    if obj.get("kind") == "AdmissionReview" and group == "admission.k8s.io":
        req = obj.get("request")
        if not isinstance(req, dict) or not (req.get("object") or req.get("oldObject")):
            raise InputError.at(where, "request", "an AdmissionReview needs object or oldObject")
        request = req
        operation = str(req.get("operation", ""))
        old = req.get("oldObject")
        user = req.get("userInfo") or {}
        obj = req.get("object") or old or {}
    namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    if request is not None:
        namespace = str(request.get("namespace") or namespace)
    ns_obj = next(
        (
            o
            for o in inventory
            if o.get("kind") == "Namespace" and (o.get("metadata") or {}).get("name") == namespace
        ),
        None,
    )
    return Request(obj, namespace, ns_obj, operation, old, user, gator=True, request=request)


def _inventory_tree(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """``data.inventory`` as Gatekeeper lays it out (notes/gatekeeper.md §2.2)."""
    tree: dict[str, Any] = {"cluster": {}, "namespace": {}}
    for obj in objects:
        meta = obj.get("metadata") or {}
        gv, kind, name = obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("name", "")
        ns = meta.get("namespace")
        root = tree["namespace"].setdefault(ns, {}) if ns else tree["cluster"]
        root.setdefault(gv, {}).setdefault(kind, {})[name] = obj
    return tree
