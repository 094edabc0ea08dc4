"""The CEL cost bound: the estimator against numbers worked out by hand
from cel-go's checker/cost.go and interpreter/runtimecost.go (and
Kubernetes' library/cost.go), then the bound itself on every policy the
CEL targets render, at 3 and at 1,000 tenants (README "Limits")."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from policygen import celcost
from policygen.celcost import Dict, Envelope, Estimator, Lst, Rec, Str, Unsupported, policy_costs
from policygen.config import Config
from policygen.targets import registry
from policygen.targets._cel import (
    cost_envelope,
    exemptions_per_namespace,
    label_owners_per_namespace,
)
from tests import scale
from tests.conftest import NOW

ENV = Envelope(
    roots={
        "request": Rec({"namespace": Str(63)}),
        "object": Rec({"items": Lst(10, Rec({"image": Str(100)}))}),
        "labels": Dict(64, Str(317), Str(63)),
    }
)


@pytest.mark.parametrize(
    ("expression", "cost"),
    [
        ("'abc'", 0),  # a literal is free
        ("request", 1),  # an identifier costs 1
        ("request.namespace", 2),  # and each field selection 1 more
        # matches: ceil((63 + 1) × 0.1) = 7 times ceil(7 × 0.25) = 2, + 2 to read
        ('request.namespace.matches("^(?:a)$")', 2 + 7 * 2),
        # contains: ceil(63 × 0.1) = 7 times ceil(3 × 0.1) = 1
        ("request.namespace.contains('abc')", 2 + 7),
        # startsWith: the prefix only, ceil(3 × 0.1) = 1
        ("request.namespace.startsWith('abc')", 2 + 1),
        # string equality: ceil(min(63, 3) × 0.1) = 1
        ("request.namespace == 'abc'", 2 + 1),
        # string + : ceil((63 + 1) × 0.1) = 7
        ("request.namespace + '/'", 2 + 7),
        # split (Kubernetes' library): ceil(63 × 2 × 0.1) = 13
        ("request.namespace.split('-')", 2 + 13),
        # replace (Kubernetes' library, what a VAP message does to a line
        # break): charged as split, ceil(63 × 2 × 0.1) = 13
        ("request.namespace.replace('\\n', '\\\\n')", 2 + 13),
        # and it may double the string: '+' then costs ceil((126 + 1) × 0.1)
        ("request.namespace.replace('\\n', '\\\\n') + '/'", 2 + 13 + 13),
        # && and || cost their sides; ?: the condition and the dearer branch
        ("request.namespace == 'a' && request.namespace == 'b'", 3 + 3),
        ("true ? request.namespace.split('-') : []", 0 + 15),
        # list literal 10 + elements; map literal 30 + entries
        ("[request.namespace, 'x']", 10 + 2),
        ("{'a': request.namespace}", 30 + 2),
        # map: range 2 + init 10 + 10 × (12 + body 2) + result 1
        ("object.items.map(i, i.image)", 2 + 10 + 10 * 14 + 1),
        # filter: range 2 + init 10 + 10 × (13 + body 3) + result 1
        ("object.items.filter(i, i.image == 'x')", 2 + 10 + 10 * 16 + 1),
        # all: 10 × (3 + body 3) + 1; exists: 10 × (4 + body 3) + 1
        ("object.items.all(i, i.image == 'x')", 2 + 10 * 6 + 1),
        ("object.items.exists(i, i.image == 'x')", 2 + 10 * 7 + 1),
        # a map's `in` and index are O(1); a list's `in` its size
        ("'k' in labels && labels['k'] in ['a', 'b']", (1 + 1) + (1 + 1 + 10 + 2)),
        # a list's indexOf (Kubernetes' library): its size × 1 for scalars
        ("[true, false, true].indexOf(true)", 10 + 3),
    ],
)
def test_each_operation_costs_what_cel_go_charges(expression: str, cost: int) -> None:
    assert Estimator(ENV).estimate(expression).cost == cost


def test_sizes_follow_the_operations() -> None:
    est = Estimator(ENV)
    est.declare("images", "object.items.map(i, i.image + '/')")
    # a map as long as its range, each string 100 + 1 long: matches on one
    # costs ceil(102 × 0.1) = 11 × ceil(4 × 0.25) = 1, plus 1 to read s
    cost = est.estimate("variables.images.exists(s, s.matches('^a.$'))").cost
    assert cost == 2 + 10 * (4 + 1 + 11 * 1) + 1


def test_an_envelope_bounds_a_variable_the_expression_cannot() -> None:
    env = Envelope(ENV.roots, {"picked": 1})
    est = Estimator(env)
    est.declare("picked", "object.items.filter(i, i.image == 'x')")
    assert est.variables["picked"] == Lst(1, Rec({"image": Str(100)}))


@pytest.mark.parametrize(
    "expression",
    [
        "variables.undeclared",  # the API server's variables are typed
        "object.missing",
        "request.namespace.format([1])",
        "object.items.sortBy(i, i)",
        # replace's result is bounded only for literal arguments
        "request.namespace.replace(request.namespace, 'x')",
        "request.namespace.replace('', 'x')",
    ],
)
def test_what_it_does_not_know_is_refused(expression: str) -> None:
    with pytest.raises(Unsupported):
        Estimator(ENV).estimate(expression)


# --- the bound on what policygen renders -----------------------------------------

#: README "Limits": the most any one expression and any one policy can cost
#: for a request in the envelope (32 images of 1,024 characters, 64 labels).
EXPRESSION_BOUND = 300_000
POLICY_BOUND = 750_000
MATCH_CONDITIONS_BOUND = 60_000


def configs() -> dict[str, Config]:
    return {
        "3 tenants": scale.load(scale.config_text(3, 3, selectors=True), NOW),
        "1,000 tenants": scale.load(
            scale.config_text(1000, 200, selectors=True, targets=("vap", "kyverno-cel")), NOW
        ),
        # the same exemptions as at 3 tenants
        "1,000 tenants, 3 exemptions": scale.load(
            scale.config_text(1000, 3, selectors=True, targets=("vap",)), NOW
        ),
    }


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[Config, list[dict[str, Any]]]]:
    out = {}
    for name, cfg in configs().items():
        docs = [
            d
            for target in ("vap", "kyverno-cel")
            for text in registry()[target].render(cfg, NOW).values()
            for d in yaml.safe_load_all(text)
            # a PolicyException's two conditions are a namespace regex and
            # a time comparison, whatever the config
            if "Binding" not in d["kind"] and d["kind"] != "PolicyException"
        ]
        out[name] = (cfg, docs)
    return out


@pytest.mark.parametrize("size", ["3 tenants", "1,000 tenants", "1,000 tenants, 3 exemptions"])
def test_every_policy_stays_within_the_bound(
    rendered: dict[str, tuple[Config, list[dict[str, Any]]]], size: str
) -> None:
    cfg, docs = rendered[size]
    assert len(docs) > 6 if size.startswith("1,000") else len(docs) == 6
    for doc in docs:
        rule = doc["metadata"]["annotations"]["policygen.dev/rule"]
        costs = policy_costs(doc["spec"], cost_envelope(cfg, rule))
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert max(costs.values()) <= EXPRESSION_BOUND, where
        matching = sum(v for k, v in costs.items() if k.startswith("matchConditions"))
        assert matching <= MATCH_CONDITIONS_BOUND, where
        assert sum(costs.values()) - matching <= POLICY_BOUND, where
    assert EXPRESSION_BOUND < celcost.PER_CALL_LIMIT / 3
    assert POLICY_BOUND < celcost.BINDING_BUDGET / 10
    assert MATCH_CONDITIONS_BOUND < celcost.MATCH_CONDITIONS_BUDGET / 40


def test_the_bound_does_not_grow_with_tenants(
    rendered: dict[str, tuple[Config, list[dict[str, Any]]]],
) -> None:
    """Per container, a request's work is the same at 3 and 1,000 tenants;
    only selecting its tenants (once per request) grows, up to a group."""

    def worst(name: str, variable: str) -> int:
        cfg, docs = rendered[name]
        return max(
            policy_costs(d["spec"], cost_envelope(cfg, "registries")).get(variable, 0)
            for d in docs
            if d["metadata"]["annotations"]["policygen.dev/rule"] == "registries"
        )

    big = "1,000 tenants, 3 exemptions"
    assert worst(big, "variables.bad") == worst("3 tenants", "variables.bad")
    # a group's tenants are selected one regex each, once per request
    assert worst(big, "variables.byName") < 40 * worst("3 tenants", "variables.byName")


def test_the_config_bounds_owners_and_exemptions_of_a_namespace() -> None:
    cfg = configs()["1,000 tenants"]
    # tenants' globs never overlap and their selectors want different values
    # of one label: a glob owner and one selector owner at most
    assert label_owners_per_namespace(cfg) == 1
    assert exemptions_per_namespace(cfg, "digest") == 1
    text = scale.config_text(6, 0, selectors=True).replace(
        "{matchLabels: {tenant: t0003}}", "{matchLabels: {tier: gold}}"
    )
    # t0000 wants tenant=t0000, t0003 tier=gold: a namespace may have both
    assert label_owners_per_namespace(scale.load(text, NOW)) == 2
