"""The Gatekeeper evaluator: rendered ConstraintTemplates run in a real Rego
engine with Gatekeeper's input, match, expansion, mutation and result rules
(../shared/notes/gatekeeper.md §2–§3, §7)."""

from __future__ import annotations

import copy
import functools
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from policygen.config import Config
from policygen.engines import DocumentEngine, EvalContext, NamespaceUnknown, Review
from policygen.engines._gatekeeper_cel import CelTemplate
from policygen.engines._gatekeeper_match import Match
from policygen.engines._gatekeeper_mutate import Assign, Expansion, applies_to
from policygen.engines._projection import Path, project
from policygen.engines._rego_reads import input_paths
from policygen.errors import UnsupportedConstruct
from policygen.memo import MISSING, Memo, fingerprint
from policygen.rego.errors import RegoError
from policygen.rego.pool import OpaPool, usable_cpus, worker_count
from policygen.rego.programs import Pending, RegoProgram, compile_program, resolve
from policygen.violations import Action, Violation
from policygen.workloads import namespace_labels, with_api_defaults

ACTIONS: dict[str, Action] = {"deny": "deny", "warn": "warn", "dryrun": "audit"}


#: Built-ins whose answer is not a function of input and data alone
#: (randomness, the network, the runtime; JWT, certificate and AWS signing
#: checks read the real clock): a template calling one is evaluated afresh
#: for every review.
IMPURE_BUILTINS = re.compile(
    r"\b(?:rand\.intn|uuid\.rfc4122|http\.send|net\.lookup_ip_addr"
    r"|opa\.runtime|external_data|io\.jwt\.decode_verify"
    r"|crypto\.x509\.parse_and_verify_certificates\w*|providers\.aws\.sign_req)\b"
)

#: The clock, which the evaluator sets (``with time.now_ns as``, a real OPA
#: feature all three engines implement): OPA reads it once per query, so
#: with it fixed a template is as pure as one without.
CLOCK = re.compile(r"\btime\.now_ns\b")

#: Answers kept per PolicySet, across calls: enough for the distinct Pods of
#: a large repository, small enough that memory stays flat on any scan.
MEMO_SIZE = 16384


#: The one target policygen evaluates (Gatekeeper's admission target).
TARGET = "admission.k8s.gatekeeper.sh"


@dataclass(frozen=True)
class Template:
    kind: str
    package: str
    program: RegoProgram | None
    #: The paths under ``input.review`` the Rego can read (None: all).
    reads: frozenset[Path] | None
    #: Whether an answer may be reused for an input with the same reads.
    pure: bool
    #: What evaluates it: a Rego engine's name, or "cel".
    engine: str = "opa"
    #: Rego v0 (Gatekeeper's default) or v1.
    version: str = "v0"
    #: The K8sNativeValidation code, when that is what is evaluated.
    cel: CelTemplate | None = None
    #: Whether the Rego reads the clock (``time.now_ns()``).
    clock: bool = False
    #: The policygen rule a template enforces (its ``policygen.dev/rule``
    #: annotation): a CEL violation carries only a message, so its results
    #: are attributed by template.
    rule: str | None = None


@dataclass(frozen=True, eq=False)  # identity: constraints key batches
class Constraint:
    kind: str
    name: str
    action: Action
    match: Match
    #: ``spec.parameters``, {} when absent (as the Rego driver stores it).
    parameters: Mapping[str, Any]
    #: Whether the Constraint has ``spec.parameters`` (CEL's ``params`` is
    #: null without).
    has_parameters: bool = True


@dataclass(frozen=True)
class Result:
    constraint: Constraint
    msg: str
    details: Mapping[str, Any]

    @functools.cached_property
    def violation(self) -> Violation:
        """Converted once: requests that share an answer share its results."""
        return to_violation(self)


@dataclass
class PolicySet:
    """A loaded Gatekeeper bundle, ready to review objects."""

    templates: dict[str, Template] = field(default_factory=dict)
    constraints: list[Constraint] = field(default_factory=list)
    expansions: list[Expansion] = field(default_factory=list)
    assigns: list[Assign] = field(default_factory=list)
    #: Answers by constraint and the fingerprint of the input it read.
    answers: Memo[tuple[Constraint, bytes], Any] = field(default_factory=lambda: Memo(MEMO_SIZE))
    #: Those answers as results, by message prefix too (pure templates only).
    converted: Memo[tuple[Constraint, bytes, str], list[Result]] = field(
        default_factory=lambda: Memo(MEMO_SIZE)
    )
    #: OPA worker processes for large batches (OPA on a multi-core machine).
    workers: OpaPool | None = None
    #: the plain path: each request evaluated alone (see DocumentEngine)
    plain: bool = False
    #: The clock templates read, in nanoseconds since the epoch; None: the
    #: engine's own (gator without ``--now``).
    clock_ns: int | None = None
    _threads: ThreadPoolExecutor | None = None

    @property
    def pure(self) -> bool:
        """No template reads randomness or the network, nor the clock
        unless the evaluator sets it."""
        return all(self._pure(t) for t in self.templates.values())

    def violations(self, reviews: Sequence[Review]) -> list[list[Violation]]:
        """policygen's question: the violations the webhook reports per request."""
        # One labelled copy per namespace, not per review: a batch is mostly
        # a few namespaces.
        labelled: dict[tuple[str, int], dict[str, Any] | None] = {}
        requests = []
        for review in reviews:
            ns, ns_obj = review.namespace, review.namespace_obj
            key = (ns, id(ns_obj))
            if key not in labelled:
                labelled[key] = None if ns_obj is None else _with_name_label(ns_obj, ns)
            requests.append(Request(review.obj, ns, labelled[key], review.operation))
        if self.plain:
            answers = [self.review_many([r])[0] for r in requests]
        else:
            answers = self.review_many(requests)
        return [sorted({r.violation for r in results}) for results in answers]

    @property
    def engines(self) -> list[str]:
        """What evaluates the templates, for the user to see."""
        return sorted({t.engine for t in self.templates.values()})

    @classmethod
    def load(
        cls,
        documents: Sequence[Mapping[str, Any]],
        rego_engine: str,
        data: Any = None,
        *,
        cel: bool = True,
        fast: bool = True,
    ) -> PolicySet:
        """``data`` goes into every template's data document (``data.inventory``).
        ``cel``: a template's K8sNativeValidation code is evaluated when it
        has some, as gator does by default (its CEL driver comes first);
        without, its Rego (``--enable-k8s-native-validation=false``)."""
        engine = resolve(rego_engine)
        out = cls()
        if not fast:  # the plain path: no memos, no worker processes
            out.answers, out.converted, out.plain = Memo(0), Memo(0), True
        workers = worker_count() if engine == "opa" and fast else 0
        if workers:
            out.workers = OpaPool(workers)
        for doc in documents:
            kind = doc.get("kind")
            if kind == "ConstraintTemplate":
                tpl = out._template(doc, engine, data, out.workers, cel)
                if tpl.cel is not None and not fast:
                    tpl.cel.memo = Memo(0)
                out.templates[tpl.kind] = tpl
            elif kind == "ExpansionTemplate":
                out.expansions.append(Expansion.from_doc(doc))
            elif kind == "Assign":
                out.assigns.append(Assign.from_doc(doc))
            elif str(doc.get("apiVersion", "")).startswith("constraints.gatekeeper.sh/"):
                spec = doc.get("spec") or {}
                if "scopedEnforcementActions" in spec:
                    raise UnsupportedConstruct("gatekeeper", "spec.scopedEnforcementActions", "")
                action = spec.get("enforcementAction", "deny")
                if action not in ACTIONS:
                    raise UnsupportedConstruct("gatekeeper", "spec.enforcementAction", action)
                out.constraints.append(
                    Constraint(
                        str(kind),
                        doc["metadata"]["name"],
                        ACTIONS[action],
                        Match(spec.get("match")),
                        spec.get("parameters") or {},
                        spec.get("parameters") is not None,
                    )
                )
        return out

    @staticmethod
    def _template(
        doc: Mapping[str, Any], engine: str, data: Any, workers: OpaPool | None, cel: bool
    ) -> Template:
        kind = doc["spec"]["crd"]["spec"]["names"]["kind"]
        targets = doc["spec"]["targets"]
        if len(targets) != 1 or targets[0].get("target") != TARGET:
            raise UnsupportedConstruct("gatekeeper", "spec.targets", "exactly one admission target")
        code = _code(kind, targets[0])
        annotations = (doc.get("metadata") or {}).get("annotations") or {}
        rule = annotations.get("policygen.dev/rule")
        rule = str(rule) if rule else None
        if cel and code.cel is not None:
            cel_code = CelTemplate(kind, code.cel)
            return Template(kind, "", None, None, True, "cel", "", cel_code, rule=rule)
        if code.rego is None:
            raise UnsupportedConstruct(
                "gatekeeper", f"{kind}: spec.targets[0]", "no Rego code (and CEL is off)"
            )
        modules = {f"lib{i}.rego": lib for i, lib in enumerate(code.libs)}
        modules["template.rego"] = code.rego
        package = code.rego.split("package ", 1)[1].split("\n", 1)[0].strip()
        try:
            program = compile_program(engine, modules, data, workers, v0=code.version != "v1")
        except RegoError as exc:
            raise RegoError(f"template {kind}: engine {engine}: {exc}") from None
        return Template(
            kind,
            package,
            program,
            _review_reads(input_paths(modules.values())),
            not any(IMPURE_BUILTINS.search(m) for m in modules.values()),
            engine,
            code.version,
            clock=any(CLOCK.search(m) for m in modules.values()),
            rule=rule,
        )

    def close(self) -> None:
        """Release the engines' compiled programs (OPA holds Go memory)."""
        if self._threads is not None:
            self._threads.shutdown()
            self._threads = None
        for template in self.templates.values():
            if template.program is not None:
                template.program.close()
        if self.workers is not None:
            self.workers.close()

    def review(
        self, obj: Mapping[str, Any], namespace: str, namespace_obj: Mapping[str, Any] | None
    ) -> list[Result]:
        """What Gatekeeper reports for one admission request."""
        return self.review_many([Request(obj, namespace, namespace_obj)])[0]

    def review_many(
        self, requests: Sequence[Request], *, cluster: bool = True
    ) -> list[list[Result]]:
        """Results per request, in order. ``cluster`` reviews as the webhook
        does (API-server defaulting, then mutation, operation CREATE);
        without it, as gator and audit do: the object as written."""
        results: list[list[Result]] = [[] for _ in requests]
        # Per constraint, the evaluations each request needs, by the
        # fingerprint of what the template reads: reviews equal in that are
        # evaluated once, in this call and (pure templates) across calls.
        pending: dict[Constraint, list[tuple[int, str, bytes]]] = {}
        known: dict[tuple[Constraint, bytes], Any] = {}
        todo: dict[Constraint, dict[bytes, dict[str, Any]]] = {}
        started: list[tuple[Constraint, list[bytes], Pending]] = []
        for i, req in enumerate(requests):
            obj = with_api_defaults(dict(req.obj)) if cluster else dict(req.obj)
            for subject, prefix in self._subjects(obj, req, cluster):
                review = _review_document(subject, req, original=not prefix)
                reads = _Reads({"review": review})
                for c, answer in self._matching(subject, req):
                    if isinstance(answer, Result):
                        results[i].append(answer)
                        continue
                    template = self.templates[c.kind]
                    if template.cel is not None:
                        # Pure too (no clock, no randomness in the driver's
                        # CEL): equal in what it reads, equal in its answer.
                        _, key = reads.of(template.cel.reads)
                        found = self.answers.get((c, key))
                        if found is MISSING:
                            params = c.parameters if c.has_parameters else None
                            found = self.answers.put((c, key), template.cel.review(review, params))
                        details = {} if template.rule is None else {"rule": template.rule}
                        messages = cast("list[str]", found)
                        results[i].extend(Result(c, prefix + m, details) for m in messages)
                        continue
                    item, key = reads.of(template.reads)
                    if template.clock:
                        key += b"@%d" % (self.clock_ns or -1)
                    pending.setdefault(c, []).append((i, prefix, key))
                    if (c, key) in known:
                        continue
                    cached = self.answers.get((c, key)) if self._pure(template) else MISSING
                    if cached is MISSING:
                        batch = todo.setdefault(c, {})
                        batch[key] = item
                        if len(batch) == _program(template).task_size:
                            # Full: OPA workers start on it while the rest
                            # of the requests are prepared.
                            started.append(self._send(c, todo.pop(c)))
                    known[(c, key)] = cached
        for c in [c for c in todo if _program(self.templates[c.kind]).task_size]:
            started.append(self._send(c, todo.pop(c)))
        evaluated = self._evaluate(todo)
        finished = ((c, keys, future.result()) for c, keys, future in started)
        for c, items, answers in itertools.chain(evaluated, finished):
            template = self.templates[c.kind]
            for key, answer in zip(items, answers, strict=True):
                known[(c, key)] = answer
                if self._pure(template):
                    self.answers.put((c, key), answer)
        # Requests that share an answer share its results, too.
        for c, evaluations in pending.items():
            pure = self._pure(self.templates[c.kind])
            converted = self.converted if pure else Memo(len(evaluations))
            for i, prefix, key in evaluations:
                out = converted.get((c, key, prefix))
                if out is MISSING:
                    out = converted.put((c, key, prefix), _results(c, prefix, known[(c, key)]))
                results[i].extend(cast("list[Result]", out))
        return results

    def _evaluate(
        self, todo: dict[Constraint, dict[bytes, dict[str, Any]]]
    ) -> Iterator[tuple[Constraint, dict[bytes, dict[str, Any]], list[Any]]]:
        """Each constraint's inputs through its template. Engines that run
        outside the GIL (OPA) evaluate constraints side by side: a scan's
        cost is almost all Rego evaluation, and templates are independent."""

        def run(c: Constraint) -> list[Any]:
            ref, shared = self._query(c)
            return _program(self.templates[c.kind]).query_many(ref, list(todo[c].values()), shared)

        parallel = len(todo) > 1 and all(
            _program(self.templates[c.kind]).parallel_safe for c in todo
        )
        if not parallel:
            for c in todo:
                yield c, todo[c], run(c)
            return
        if self._threads is None:
            self._threads = ThreadPoolExecutor(min(len(self.templates), usable_cpus()))
        futures = [(c, self._threads.submit(run, c)) for c in todo]
        for c, future in futures:
            yield c, todo[c], future.result()

    def _send(
        self, c: Constraint, batch: dict[bytes, dict[str, Any]]
    ) -> tuple[Constraint, list[bytes], Pending]:
        """A constraint's evaluations, on their way to its engine."""
        ref, shared = self._query(c)
        program = _program(self.templates[c.kind])
        return c, list(batch), program.submit(ref, list(batch.values()), shared)

    def _query(self, c: Constraint) -> tuple[str, dict[str, Any]]:
        """What to ask a constraint's template, and the input all its reviews
        share. Whether ``violation`` is a set travels with it: Gatekeeper's
        hook iterates it as one, and anything else must not pass as "no
        violations"."""
        template = self.templates[c.kind]
        violation = f"data.{template.package}.violation"
        ref = f"[is_set({violation}), {violation}]"
        if template.clock and self.clock_ns is not None:
            ref += f" with time.now_ns as {self.clock_ns}"
        return ref, {"parameters": dict(c.parameters)}

    def _pure(self, template: Template) -> bool:
        """Whether an answer may be kept across calls: a template reading
        the clock only while the evaluator sets it (the key holds it)."""
        return template.pure and (not template.clock or self.clock_ns is not None)

    def _subjects(
        self, obj: dict[str, Any], req: Request, cluster: bool
    ) -> Iterator[tuple[dict[str, Any], str]]:
        """The object, then each Pod an ExpansionTemplate generates from it,
        with the prefix Gatekeeper puts on the latter's messages."""
        yield (self._mutated(obj, req, "Original") if cluster else obj), ""
        for expansion in self.expansions:
            if not expansion.applies(obj):
                continue
            pod = expansion.expand(obj, req.namespace)
            if pod is None:
                continue
            pod = self._mutated(pod, req, "Generated") if cluster else pod
            yield pod, f"[Implied by {expansion.name}] "

    def _mutated(self, obj: dict[str, Any], req: Request, source: str) -> dict[str, Any]:
        todo = [a for a in self.assigns if any(applies_to(e, obj) for e in a.apply_to)]
        if not todo:
            return obj
        out = copy.deepcopy(obj)
        for assign in todo:
            try:
                if assign.match(out, req.namespace, req.namespace_obj, source):
                    assign.mutate(out)
            except NamespaceUnknown:
                continue  # a mutator that cannot match does not mutate
        return out

    def _matching(
        self, obj: dict[str, Any], req: Request
    ) -> Iterator[tuple[Constraint, Result | None]]:
        """Constraints that apply: None to evaluate, or the autoreject result."""
        for c in self.constraints:
            try:
                if not c.match(obj, req.namespace, req.namespace_obj):
                    continue
            except NamespaceUnknown as exc:
                msg = exc.message(f"{c.kind}/{c.name}")
                yield c, Result(c, msg, {"rule": "scope", "autoreject": True})
                continue
            if c.kind not in self.templates:
                raise UnsupportedConstruct("gatekeeper", f"{c.kind}/{c.name}", "no template")
            yield c, None


@dataclass(frozen=True)
class _Code:
    rego: str | None
    libs: list[str]
    version: str
    cel: Mapping[str, Any] | None


def _code(kind: str, target: Mapping[str, Any]) -> _Code:
    """A target's code by engine (frameworks ``apis/templates/v1``
    conversion.go, ``drivers/rego/schema``): the legacy ``rego``/``libs``
    fields win over a ``code`` Rego entry and are v0; a ``code`` entry's
    Rego is v0 unless its ``source.version`` is ``v1``."""
    rego: str | None = None
    libs: list[str] = []
    version = "v0"
    cel: Mapping[str, Any] | None = None
    for i, entry in enumerate(target.get("code") or []):
        name = entry.get("engine")
        source = entry.get("source") or {}
        if name == "Rego":
            rego, libs = source.get("rego"), list(source.get("libs") or [])
            version = str(source.get("version") or "v0")
            if version not in ("v0", "v1"):
                raise UnsupportedConstruct(
                    "gatekeeper", f"{kind}: code[{i}].source.version", version
                )
        elif name == "K8sNativeValidation":
            cel = source
        else:
            raise UnsupportedConstruct("gatekeeper", f"{kind}: code[{i}].engine", str(name))
    if target.get("rego"):
        rego, libs, version = target["rego"], list(target.get("libs") or []), "v0"
    return _Code(rego, libs, version, cel)


def _program(template: Template) -> RegoProgram:
    assert template.program is not None, "CEL templates are evaluated apart"
    return template.program


def _review_reads(paths: frozenset[Path] | None) -> frozenset[Path] | None:
    """The paths under ``input.review``: parameters travel apart, once per
    constraint, and templates that read the same review share a projection."""
    return None if paths is None else frozenset(p for p in paths if p[0] == "review")


class _Reads:
    """One review's input cut down to what a template reads, with its
    fingerprint; templates that read the same paths share the work."""

    def __init__(self, whole: dict[str, Any]) -> None:
        self._whole = whole
        self._by_paths: dict[frozenset[Path] | None, tuple[dict[str, Any], bytes]] = {}

    def of(self, paths: frozenset[Path] | None) -> tuple[dict[str, Any], bytes]:
        out = self._by_paths.get(paths)
        if out is None:
            item = project(self._whole, paths)
            out = self._by_paths[paths] = (item, fingerprint(item))
        return out


@dataclass(frozen=True)
class Request:
    """One object under review, with the namespace Gatekeeper resolves for it."""

    obj: Mapping[str, Any]
    namespace: str
    namespace_obj: Mapping[str, Any] | None
    operation: str = "CREATE"
    old_obj: Mapping[str, Any] | None = None
    user_info: Mapping[str, Any] = field(default_factory=dict)
    #: Reviewed as ``gator`` does: the AdmissionRequest a plain object
    #: becomes, and no Namespace object in the input.
    gator: bool = False
    #: ``gator``'s review of an AdmissionReview: its request as given.
    request: Mapping[str, Any] | None = None


def _review_document(obj: dict[str, Any], req: Request, original: bool = True) -> dict[str, Any]:
    """``input.review`` as Gatekeeper builds it (notes/gatekeeper.md §2.1);
    for audit and gator the caller passes operation ``""``."""
    if req.gator:
        return _gator_review(obj, req, original)
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    return {
        "uid": "",
        "kind": {"group": group, "version": version, "kind": obj.get("kind", "")},
        "name": (obj.get("metadata") or {}).get("name", ""),
        "namespace": req.namespace,
        "operation": req.operation,
        "userInfo": dict(req.user_info),
        "object": obj,
        "oldObject": req.old_obj,
        "namespaceObject": req.namespace_obj,
    }


def _gator_review(obj: dict[str, Any], req: Request, original: bool) -> dict[str, Any]:
    """What gator's client reviews (gatekeeper ``pkg/target/target.go``
    ``unstructuredToAdmissionRequest``, frameworks ``drivers/rego`` Query):
    the AdmissionRequest JSON, its empty ``name``/``namespace`` omitted,
    ``namespaceObject`` null (``gator verify`` passes no Namespace). An
    AdmissionReview's request is reviewed as given; on DELETE its
    ``oldObject`` is also the ``object`` (``setObjectOnDelete``)."""
    if req.request is not None and original:
        out: dict[str, Any] = {
            "uid": "",
            "kind": {"group": "", "version": "", "kind": ""},
            "resource": {"group": "", "version": "", "resource": ""},
            "operation": "",
            "userInfo": {},
            "object": None,
            "oldObject": None,
            "options": None,
            **copy.deepcopy(dict(req.request)),
        }
        if out["operation"] == "DELETE":
            if out["oldObject"] is None:
                raise UnsupportedConstruct(
                    "gator", "request.oldObject", "a DELETE request needs oldObject"
                )
            out["object"] = out["oldObject"]
        out["namespaceObject"] = None
        return out
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    meta = obj.get("metadata") or {}
    out = {
        "uid": "",
        "kind": {"group": group, "version": version, "kind": obj.get("kind", "")},
        "resource": {"group": "", "version": "", "resource": ""},
    }
    if meta.get("name"):
        out["name"] = meta["name"]
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    out.update(
        operation=req.operation,
        userInfo=dict(req.user_info),
        object=obj,
        oldObject=req.old_obj,
        options=None,
        namespaceObject=None,
    )
    return out


def _results(c: Constraint, prefix: str, answer: Any) -> list[Result]:
    """Gatekeeper's result rules: set semantics, no ``msg`` → dropped,
    evaluation error → one result carrying the error (fail closed). A
    ``violation`` that is not a set, or a ``msg`` that is not a string, is
    refused: Gatekeeper would report nothing, or fail the review."""
    if isinstance(answer, RegoError):
        return [Result(c, prefix + str(answer), {})]
    if answer is None:
        return []
    is_set, answer = answer
    if not is_set:
        raise RegoError(
            f"template {c.kind}: violation is {type(answer).__name__}, not a set; "
            "Gatekeeper would find no violations in it"
        )
    out = []
    seen: set[bytes] = set()
    for item in answer or []:
        if not isinstance(item, dict) or "msg" not in item:
            continue  # the hook's ``r.msg`` is undefined: no result
        msg = item["msg"]
        if not isinstance(msg, str):
            raise RegoError(
                f"template {c.kind}: a violation's msg is {type(msg).__name__}, not a string"
            )
        if len(answer) > 1:  # an engine's set is already one; a list may not be
            key = fingerprint(item)
            if key in seen:
                continue
            seen.add(key)
        out.append(Result(c, prefix + msg, item.get("details") or {}))
    return out


def to_violation(result: Result) -> Violation:
    d = result.details
    rule = str(d.get("rule", result.constraint.kind))
    if d.get("autoreject"):
        return Violation("scope", "", "", result.msg, "deny")
    return Violation(
        rule,
        str(d.get("container", "")),
        str(d.get("image", "")),
        result.msg,
        result.constraint.action,
    )


class GatekeeperEngine(DocumentEngine[PolicySet]):
    """Gatekeeper as a cluster runs it (``code="auto"``: a template's CEL
    when it has some, as the CEL driver comes first, else its Rego), or
    the Rego entries alone (``code="rego"``: the driver off), so that both
    entries of every template are held to the model."""

    name = "gatekeeper"
    target = "gatekeeper"
    per_rule = True

    def __init__(self, rego_engine: str = "auto", code: str = "auto", *, fast: bool = True) -> None:
        if code not in ("auto", "rego"):
            raise ValueError(f"code: {code!r} is not auto or rego")
        self.rego_engine = rego_engine
        self.code = code
        self.name = "gatekeeper" if code == "auto" else "gatekeeper-rego"
        # A CEL template reports the first offending container of its rule,
        # as VAP does; Rego reports each.
        self.per_rule = code == "auto"
        super().__init__(fast=fast)

    def load(self, documents: Sequence[Mapping[str, Any]]) -> PolicySet:
        return PolicySet.load(documents, self.rego_engine, cel=self.code == "auto", fast=self.fast)

    def policy_set(self, config: Config, ctx: EvalContext) -> PolicySet:
        policies = super().policy_set(config, ctx)
        # The one clock: what time.now_ns() returns to every template.
        policies.clock_ns = int(ctx.instant.timestamp()) * 1_000_000_000
        return policies


def _with_name_label(ns_obj: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The API server labels every Namespace with its name; offline fixtures may not."""
    out = copy.deepcopy(dict(ns_obj))
    out.setdefault("metadata", {})["labels"] = namespace_labels(ns_obj, name)
    return out
