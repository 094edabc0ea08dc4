"""Same verdicts at 3 and at 1,000 tenants (issue #21): every evaluator
agrees with the model on corpus-like workloads, sampled where the CEL
targets' tenant groups meet (first and last tenant of a group, the
namespaces of no tenant, selector tenants, exemptions), not swept."""

from __future__ import annotations

from typing import Any

import pytest

from policygen.config import Config
from policygen.engines import EvalContext, create
from policygen.fixtures import DIGEST, POLICIES, Fixture, _namespace, _workload
from policygen.prove import prove
from policygen.targets._cel import TENANTS_PER_POLICY, tenant_groups
from tests import scale
from tests.conftest import NOW

ENGINES = ("model", "kyverno", "kyverno-cel", "gatekeeper", "vap")


def sample(cfg: Config) -> tuple[list[Fixture], dict[str, dict[str, Any]]]:
    """Workloads in a few namespaces of chosen tenants, each with an image
    of its own tenant (pinned and by tag), of a tenant in another group, a
    shared one, a look-alike, an invalid one and one its exemption covers,
    pull policies rotating."""
    tenants = cfg.spec.tenants
    digest = DIGEST["sha256"]
    last = len(tenants) - 1
    picks = sorted({0, min(TENANTS_PER_POLICY, last), len(tenants) // 2, last})
    namespaces: dict[str, dict[str, Any]] = {}
    images: dict[str, list[str]] = {}

    def add(ns: str, own: int, other: int, labels: dict[str, str] | None = None) -> None:
        namespaces[ns] = _namespace(ns, labels or {})
        mine, theirs = tenants[own].registries[own % 2], tenants[other].registries[0]
        images[ns] = [
            f"{mine}/app@{digest}",
            f"{mine}/app:1",
            f"{theirs}/app@{digest}",
            f"{mine}-lookalike/app@{digest}",
            f"registry.k8s.io/pause@{digest}",
            "Not An Image",
            f"harbor.corp.example/vendor/tool{own}:2",
        ]

    for i in picks:
        add(tenants[i].name, i, last - i)
        add(f"{tenants[i].name}-batch", i, (i + TENANTS_PER_POLICY) % len(tenants))
        selector = tenants[i].namespaceSelector
        if selector is not None and i > 0:
            # by name another tenant's, by labels this one's: both own it
            add(f"{tenants[i - 1].name}-x", i, i - 1, dict(selector.matchLabels))
    add("shared-only", 0, last)
    add("kube-system", 0, last)
    fixtures = []
    n = 0
    for ns, listed in images.items():
        for j, image in enumerate(listed):
            policy = POLICIES[n % len(POLICIES)]
            name = f"{ns}-i{j}"
            fixtures.append(Fixture(f"sample:{name}", _workload(name, ns, image, policy, n), None))
            n += 1
    return fixtures, namespaces


@pytest.mark.parametrize(
    ("tenants", "exemptions", "selectors", "engines"),
    [
        (3, 3, False, ENGINES),
        (1000, 200, False, ("model", "kyverno", "gatekeeper")),
        # Selector tenants too (the Kyverno ClusterPolicy writes those out
        # as rules, too large at this size).
        (1000, 200, True, ("model", "kyverno-cel", "gatekeeper", "vap")),
        # Without exemptions Gatekeeper runs the templates' CEL (a rule with
        # exemptions has Rego only): its lookups in the tenant indexes.
        (1000, 0, True, ("model", "gatekeeper")),
    ],
)
def test_every_engine_agrees_with_the_model(
    tenants: int, exemptions: int, selectors: bool, engines: tuple[str, ...]
) -> None:
    cfg = scale.load(scale.config_text(tenants, exemptions, selectors=selectors), NOW)
    if tenants > TENANTS_PER_POLICY:
        assert len(tenant_groups(cfg)) > 1  # the groups' seams are what is sampled
    fixtures, namespaces = sample(cfg)
    ctx = EvalContext(NOW)
    proof = prove(cfg, [create(e) for e in engines], fixtures, namespaces, ctx)
    assert [(r.fixture.source, r.problems) for r in proof.failed] == []
    # the sample decides: every rule denies somewhere and allows somewhere
    for rule in ("digest", "pullPolicy", "registries"):
        cells = {row.cell("model", rule) for row in proof.rows}
        assert {"allow", "deny"} <= cells, rule
