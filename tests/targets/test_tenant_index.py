"""Tenants found through indexes (``targets/_common.py`` ``tenant_index`` and
``glob_key``; the Kyverno target's ``tenant_index``): a review looks the
namespace's owners up instead of matching every tenant, and every engine
still says what the model says, for each way a glob or a selector is filed."""

from __future__ import annotations

from typing import Any

import pytest

from policygen import config
from policygen.engines import EvalContext, create
from policygen.fixtures import Fixture, _namespace
from policygen.prove import prove
from policygen.targets.gatekeeper import GatekeeperTarget
from policygen.targets.kyverno import tenant_index as kyverno_index
from tests.conftest import NOW

#: A tenant for each way a namespace glob or a selector is filed: one
#: literal glob (``solo``), a head alone (``h-*``) or a tail alone
#: (``*-tl``), a head confirmed by a regex (``c?-x``), two tenants under one
#: head, a glob with neither head nor tail (``?mid?``), several globs of one
#: tenant (Kyverno files the tenant once, by what they share); selectors by
#: an indexed label, by expressions only, by an empty value. A glob open at
#: its end overlaps every glob open at its start, so those are in two
#: configs: ``{open}`` is one variant's tenants or the other's.
CONFIG = """\
apiVersion: policygen.dev/v1alpha1
kind: ImagePolicyConfig
metadata: {name: idx}
spec:
  targets: [gatekeeper, kyverno]
  scope: {namespaces: ["*"], excludeNamespaces: [kube-system]}
  rules:
    digest: {action: off}
    pullPolicy: {action: off}
    registries: {action: deny, allowed: [registry.k8s.io]}
  tenants:
{open}
    - {name: solo, namespaces: [solo], registries: [r.example/solo]}
    - {name: confirm, namespaces: ["c?-x"], registries: [r.example/confirm]}
    - {name: one, namespaces: ["s-*-1"], registries: [r.example/one]}
    - {name: two, namespaces: ["s-*-2"], registries: [r.example/two]}
    - {name: mid, namespaces: ["?mid?"], registries: [r.example/mid]}
    - name: lab
      namespaceSelector: {matchLabels: {team: lab, zone: eu}}
      registries: [r.example/lab]
    - name: expr
      namespaceSelector: {matchExpressions: [{key: tier, operator: In, values: [gold]}]}
      registries: [r.example/expr]
    - name: blank
      namespaceSelector: {matchLabels: {flag: ""}}
      registries: [r.example/blank]
  exemptions: []
"""
OPEN = {
    "head": """\
    - {name: head, namespaces: [h-*], registries: [r.example/head]}
    - {name: multi, namespaces: [m, m1-*], registries: [r.example/multi]}""",
    "tail": """\
    - {name: tail, namespaces: ["*-tl"], registries: [r.example/tail]}
    - {name: multi, namespaces: [x-m1, "*y-m1"], registries: [r.example/multi]}""",
}
TENANTS = ["head", "tail", "multi", "solo", "confirm", "one", "two", "mid", "lab", "expr", "blank"]
LABELS: dict[str, dict[str, str]] = {
    "solo": {},
    "solo2": {},
    "h-1": {},
    "hx": {},
    "a-tl": {},
    "a-tlx": {},
    "m": {},
    "m1-a": {},
    "m1": {},
    "x-m1": {},
    "zy-m1": {},
    "z-m1": {},
    "c1-x": {},
    "c12-x": {},
    "s-a-1": {},
    "s-a-2": {},
    "s-a-3": {},
    "xmidy": {},
    "xmid": {},
    "lab-ns": {"team": "lab", "zone": "eu"},
    "lab-us": {"team": "lab", "zone": "us"},
    "gold": {"tier": "gold"},
    "blank": {"flag": ""},
    # owned by name by one tenant and by labels by another: both apply
    "solo-gold": {"tier": "gold"},
    "h-gold": {"tier": "gold"},
}
#: Namespaces where a config denies every tenant's image: those no tenant
#: takes, and (head) one that head owns by name and expr by labels, where
#: an image must be allowed by both.
NOBODYS = {"solo2", "hx", "a-tlx", "m1", "z-m1", "c12-x", "s-a-3", "xmid", "lab-us"}
DENIED_ALL = {
    "head": NOBODYS | {"a-tl", "x-m1", "zy-m1", "h-gold"},
    "tail": NOBODYS | {"h-1", "m", "m1-a"},
}


def index_config(open_end: str) -> config.Config:
    return config.parse(CONFIG.replace("{open}", OPEN[open_end]), "idx.yaml", today=NOW)


def test_gatekeeper_files_each_glob_by_what_a_lookup_can_use() -> None:
    params = GatekeeperTarget.parameters(index_config("head"), "registries")
    assert params["ownersByNamespace"] == {"m": ["multi"], "solo": ["solo"]}
    assert params["ownersByPrefix"] == {
        "h-": [{"tenant": "head"}],
        "m1-": [{"tenant": "multi"}],
        "c": [{"tenant": "confirm", "regex": "^c.\\-x$"}],
        "s-": [
            {"tenant": "one", "regex": "^s\\-.*\\-1$"},
            {"tenant": "two", "regex": "^s\\-.*\\-2$"},
        ],
    }
    assert params["prefixLengths"] == [1, 2, 3]
    assert params["ownersBySuffix"] == {}
    assert params["ownersByPattern"] == [{"tenant": "mid", "regex": "^.mid.$"}]
    assert params["selectorsByLabel"] == {"team": {"lab": ["lab"]}}
    assert params["selectorsUnindexed"] == ["expr", "blank"]
    assert sorted(params["selectors"]) == ["blank", "expr", "lab"]
    params = GatekeeperTarget.parameters(index_config("tail"), "registries")
    assert params["ownersBySuffix"] == {
        "-tl": [{"tenant": "tail"}],
        "y-m1": [{"tenant": "multi"}],
    }
    assert params["suffixLengths"] == [3, 4]
    assert params["ownersByNamespace"] == {"x-m1": ["multi"], "solo": ["solo"]}


def test_kyverno_files_each_glob_tenant_once() -> None:
    def own(tenant: str) -> str:
        return f"^(?:r\\.example/{tenant})(?:/|$)"

    index = kyverno_index([t for t in index_config("head").spec.tenants if t.namespaces])
    assert index["names"] == {"solo": [["", own("solo")]]}
    assert index["heads"] == {
        "h-": [["", own("head")]],
        # m and m1-*: the text both start with, confirmed by both globs
        "m": [["^(?:m|m1\\-.*)$", own("multi")]],
        "c": [["^c.\\-x$", own("confirm")]],
        "s-": [["^s\\-.*\\-1$", own("one")], ["^s\\-.*\\-2$", own("two")]],
    }
    assert index["tails"] == {}
    assert index["others"] == [["^.mid.$", own("mid")]]
    index = kyverno_index([t for t in index_config("tail").spec.tenants if t.namespaces])
    assert index["tails"] == {
        "-tl": [["", own("tail")]],
        "-m1": [["^(?:x\\-m1|.*y\\-m1)$", own("multi")]],
    }


ENGINES = [("kyverno", "auto"), ("gatekeeper", "opa"), ("gatekeeper", "regorus")]


@pytest.mark.parametrize(("engine", "rego"), ENGINES, ids=[f"{e}-{r}" for e, r in ENGINES])
@pytest.mark.parametrize("open_end", list(OPEN))
def test_every_engine_agrees_with_the_model(engine: str, rego: str, open_end: str) -> None:
    """In each namespace a workload per tenant, with that tenant's image:
    exactly the owners' images pass; where no Namespace object says whether
    a selector takes it, the namespace is reported unknown."""
    cfg = index_config(open_end)
    namespaces = {ns: _namespace(ns, labels) for ns, labels in LABELS.items()}
    fixtures = [
        Fixture(f"idx:{ns}:{t}", pod(ns, t), None)
        for ns in [*LABELS, "unknown-ns"]
        for t in TENANTS
    ]
    proof = prove(
        cfg,
        [create("model"), create(engine, rego_engine=rego)],
        fixtures,
        namespaces,
        EvalContext(NOW),
    )
    assert [(r.fixture.source, r.problems) for r in proof.failed] == []
    # the sample decides: each namespace of a tenant allows one image and denies others
    for ns in LABELS:
        cells = {r.cell("model", "registries") for r in proof.rows if r.namespace == ns}
        assert cells == ({"deny"} if ns in DENIED_ALL[open_end] else {"allow", "deny"}), ns


def pod(ns: str, tenant: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"p-{tenant}", "namespace": ns},
        "spec": {"containers": [{"name": "c", "image": f"r.example/{tenant}/app:1"}]},
    }
