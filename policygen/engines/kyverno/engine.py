"""The Kyverno engine (kyverno pkg/engine/engine.go): ``kyverno.io/v1`` (and
``v2beta1``) ClusterPolicy/Policy and ``kyverno.io/v2`` PolicyException,
evaluated as Kyverno's engine does (notes/kyverno.md §3), for the
constructs listed in docs; anything else is refused with "unsupported
kyverno construct at <path>".

Admission order: API-server defaulting, then every mutate rule of every
policy, then validation of the mutated object."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from policygen.engines import NamespaceUnknown, Review
from policygen.engines.kyverno.api import Outcome, Policy, Request, Rule, RuleResult
from policygen.engines.kyverno.context import ContextMemo
from policygen.engines.kyverno.exceptions import Exception_, load_exception
from policygen.engines.kyverno.functions import CLOCK_FUNCTIONS, clock
from policygen.engines.kyverno.images import images
from policygen.engines.kyverno.match import match_view, metadata_reads, rule_applies
from policygen.engines.kyverno.mutation import mutate_rule
from policygen.engines.kyverno.policies import POLICY_APIS, load_policy
from policygen.engines.kyverno.results import to_violations
from policygen.engines.kyverno.validation import ElementMemo, validate_rule
from policygen.errors import UnsupportedConstruct
from policygen.memo import MISSING, Memo, fingerprint
from policygen.violations import Violation
from policygen.workloads import namespace_labels, with_api_defaults

MEMO_SIZE = 20_000
#: foreach elements' answers: a repository's distinct containers per rule
ELEMENT_MEMO_SIZE = 8192


class PolicySet:
    """Loaded policies and exceptions; one admission request at a time."""

    def __init__(self, *, fast: bool = True) -> None:
        #: the clock Kyverno's time functions read (time_now_utc(), …), which
        #: the evaluator sets from ``--now``; None: the real one
        self.now: dt.datetime | None = None
        #: whether some rule reads the clock
        self.reads_clock = False
        self.policies: list[Policy] = []
        self.exceptions: list[Exception_] = []
        self._images_of: tuple[Mapping[str, Any], dict[str, Any]] | None = None
        #: a rule's answer by the values it reads (reads.py); off on the plain path
        self.memo: Memo[tuple[int, bytes], RuleResult | None] = Memo(MEMO_SIZE if fast else 0)
        #: a foreach element's answer by the values it reads (validation.py)
        self.element_memo = ElementMemo(ELEMENT_MEMO_SIZE if fast else 0)
        #: context entries' results by the values they read (context.py)
        self.context_memo = ContextMemo(MEMO_SIZE if fast else 0)
        #: whether a rule matches, by what matching reads (off on the plain path)
        self.match_memo: Memo[tuple[int, bytes], bool | None] = Memo(MEMO_SIZE if fast else 0)
        #: the metadata each rule's match and exclude read, by the rule's id
        #: (the rules are this set's own, so ids stay theirs)
        self._metadata_reads: dict[int, tuple[str, ...]] = {}
        #: the last request's match view, as (object, request, reads, fingerprint)
        self._last_view: tuple[Mapping[str, Any], Request, tuple[str, ...], bytes] | None = None

    @classmethod
    def load(cls, documents: Sequence[Mapping[str, Any]], *, fast: bool = True) -> PolicySet:
        out = cls(fast=fast)
        out.reads_clock = bool(CLOCK_FUNCTIONS.search(json.dumps(documents, default=str)))
        for doc in documents:
            kind, api = doc.get("kind"), str(doc.get("apiVersion", ""))
            if kind in ("ClusterPolicy", "Policy") and api in POLICY_APIS:
                out.policies.append(load_policy(doc))
            elif kind == "PolicyException" and api.startswith("kyverno.io/v2"):
                out.exceptions.append(load_exception(doc))
            elif kind in ("ClusterPolicy", "Policy", "PolicyException"):
                raise UnsupportedConstruct(
                    "kyverno", f"{kind}/{api}", "only kyverno.io/v1, v2beta1 and v2"
                )
        return out

    @property
    def pure(self) -> bool:
        """An answer depends on the request alone, and on the clock only
        while the evaluator sets it (the reuse layer is one per clock)."""
        return not self.reads_clock or self.now is not None

    def violations(self, reviews: Sequence[Review]) -> list[list[Violation]]:
        """policygen's question: the violations admission reports per request."""
        with clock(self.now):  # time_now_utc() and the like read --now
            return self._violations(reviews)

    def _violations(self, reviews: Sequence[Review]) -> list[list[Violation]]:
        out = []
        for review in reviews:
            ns_obj = review.namespace_obj
            labels = None if ns_obj is None else namespace_labels(ns_obj, review.namespace)
            req = Request(
                review.obj,
                review.namespace,
                labels,
                review.operation,
                review.subresource,
                review.old_obj,
            )
            out.append(to_violations(self.review(req)))
        return out

    def close(self) -> None:
        """Nothing to release: the policies are Python data."""

    def has(self, kind: str) -> bool:
        """Whether any rule is a ``mutate`` (or ``validate``) rule."""
        return any(kind in rule.spec for policy in self.policies for rule in policy.rules)

    def review(self, req: Request, *, api_defaults: bool = True) -> Outcome:
        """Admission: every mutate rule of every policy, then every validate
        rule on the mutated object."""
        obj = with_api_defaults(dict(req.obj)) if api_defaults else dict(req.obj)
        if not self.has("mutate"):
            # what mutate() gives then: a copy of the object, no results
            return Outcome(dict(obj), self.validate(dataclasses.replace(req, obj=obj)))
        mutated = self.mutate(dataclasses.replace(req, obj=obj))
        validated = self.validate(dataclasses.replace(req, obj=mutated.obj))
        return Outcome(mutated.obj, mutated.results + validated)

    def mutate(self, req: Request) -> Outcome:
        if not self.has("mutate"):
            # nothing to apply; validation reads the object and never writes it
            return Outcome(dict(req.obj), [])
        obj = copy.deepcopy(dict(req.obj))
        results: list[RuleResult] = []
        for policy in self.policies:
            for rule in policy.rules:
                if "mutate" in rule.spec:
                    result, obj = mutate_rule(self, rule, obj, req)
                    if result is not None:
                        results.append(dataclasses.replace(result, mutation=True))
        return Outcome(obj, results)

    def validate(self, req: Request) -> list[RuleResult]:
        obj = dict(req.obj)
        results: list[RuleResult] = []
        kind = obj.get("kind")
        for policy in self.policies:
            for rule in policy.rules:
                if rule.kinds is not None and kind not in rule.kinds:
                    continue  # applies() says no at once: the rule gives no response
                if "validate" in rule.spec:
                    result = validate_rule(self, rule, obj, req)
                    if result is not None:
                        results.append(result)
        return results

    def applies(self, rule: Rule, obj: Mapping[str, Any], req: Request) -> bool:
        """``rule_applies``, memoised on all it reads (``match_view``): a
        scan asks it of every rule for every object, and objects repeat
        their kinds and namespaces. Raises NamespaceUnknown as it does."""
        if rule.kinds is not None and obj.get("kind") not in rule.kinds:
            return False  # the quick test rule_applies makes first
        if not self.match_memo.maxsize:
            return rule_applies(rule, obj, req)
        reads = self._metadata_reads.get(id(rule))
        if reads is None:
            reads = self._metadata_reads[id(rule)] = metadata_reads(rule)
        # Rules that read the same metadata share the view's fingerprint
        # while the request is the same: validation asks every rule of it
        # in turn, and never writes into the object or the request.
        last = self._last_view
        if last is not None and last[0] is obj and last[1] is req and last[2] == reads:
            view = last[3]
        else:
            view = fingerprint(match_view(reads, obj, req))
            self._last_view = (obj, req, reads, view)
        key = (id(rule), view)
        hit = self.match_memo.get(key)
        if hit is MISSING:
            try:
                hit = rule_applies(rule, obj, req)
            except NamespaceUnknown:
                hit = None
            self.match_memo.put(key, hit)
        if hit is None:
            raise NamespaceUnknown(req.namespace)
        return bool(hit)

    def images(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """The images variable, computed once per object (mutation makes a new one)."""
        if self._images_of is None or self._images_of[0] is not obj:
            self._images_of = (obj, images(obj))
        return self._images_of[1]
