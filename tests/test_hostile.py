"""Hostile objects, one class of admission hole at a time: the model's exact
findings, and every engine's exact verdict and rules, in agreement with it.

Each case names the upstream fact it rests on where the answer could be
argued. Engines are compared as ``policygen scan --engine all`` compares
them (``policygen.agreement``), and each must reach the model's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from policygen import config, model
from policygen.agreement import disagreements, normalised
from policygen.engines import EvalContext, Evaluator, Review, create
from policygen.model import namespace_of
from policygen.violations import Violation, verdict
from tests.conftest import NOW

PINNED = "@sha256:" + "0123456789abcdef" * 4
APP = {
    "name": "app",
    "image": f"harbor.corp.example/team-a/app{PINNED}",
    "imagePullPolicy": "Always",
}
ENGINE_NAMES = ("kyverno", "kyverno-cel", "gatekeeper", "vap")


@dataclass(frozen=True)
class Hostile:
    id: str
    obj: dict[str, Any]
    #: the model's findings: (rule, container, action, message)
    expected: list[tuple[str, str, str, str]]
    namespaces: dict[str, Any] = field(default_factory=dict)
    config: str = "example"


def pod(ns: str, *, containers: list[Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns},
        "spec": {"containers": [APP] if containers is None else containers, **spec},
    }


def volume(name: str, reference: str | None, policy: str | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {}
    if reference is not None:
        source["reference"] = reference
    if policy is not None:
        source["pullPolicy"] = policy
    return {"name": name, "image": source}


CASES = [
    # Class: image volumes (KEP-4639). Every rule reads them, messages name the volume.
    Hostile(
        "volume-tag-foreign-ifnotpresent",
        pod("team-a", volumes=[volume("tools", "ghcr.io/evil/tools:1.0", "IfNotPresent")]),
        [
            (
                "digest",
                "tools",
                "deny",
                'volume "tools" image "ghcr.io/evil/tools:1.0" must be pinned by digest '
                "(@sha256:<64 hex>)",
            ),
            (
                "pullPolicy",
                "tools",
                "deny",
                'volume "tools" must set pullPolicy: Always, not IfNotPresent',
            ),
            (
                "registries",
                "tools",
                "deny",
                'volume "tools" image "ghcr.io/evil/tools:1.0" is not from a registry '
                'allowed in namespace "team-a"',
            ),
        ],
    ),
    # SetDefaults_Volume: no pullPolicy on a tagged reference is IfNotPresent.
    Hostile(
        "volume-defaulted-ifnotpresent",
        pod("team-a", volumes=[volume("data", f"harbor.corp.example/team-a/data{PINNED}")]),
        [
            (
                "pullPolicy",
                "data",
                "deny",
                'volume "data" must set pullPolicy: Always, not IfNotPresent',
            )
        ],
    ),
    # ... and ":latest" (or no tag) is Always, so only the digest is missing.
    Hostile(
        "volume-latest-defaults-always",
        pod("team-a", volumes=[volume("data", "harbor.corp.example/team-a/data:latest")]),
        [
            (
                "digest",
                "data",
                "deny",
                'volume "data" image "harbor.corp.example/team-a/data:latest" must be pinned '
                "by digest (@sha256:<64 hex>)",
            )
        ],
    ),
    Hostile(
        "volume-in-deployment-template",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "team-b"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [APP | {"image": f"ghcr.io/acme-team-b/app{PINNED}"}],
                        "volumes": [volume("model", f"docker.io/evil/model{PINNED}", "Always")],
                    }
                }
            },
        },
        [
            (
                "registries",
                "model",
                "deny",
                f'volume "model" image "docker.io/evil/model{PINNED}" is not from a registry '
                'allowed in namespace "team-b"',
            )
        ],
    ),
]


@pytest.fixture(scope="module")
def configs(example: config.Config) -> dict[str, config.Config]:
    return {"example": example}


@pytest.fixture(scope="module")
def engines() -> dict[str, Evaluator]:
    return {name: create(name) for name in ENGINE_NAMES}


def _evaluate(engine: Evaluator, cfg: config.Config, case: Hostile) -> list[Violation]:
    ctx = EvalContext(NOW, case.namespaces)
    return engine.evaluate(cfg, [Review(case.obj, namespace_of(case.obj, "default"))], ctx)[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_model_findings_are_exact(configs: dict[str, config.Config], case: Hostile) -> None:
    found = model.evaluate(
        configs[case.config], case.obj, model.Context(now=NOW, namespaces=case.namespaces)
    )
    assert [(v.rule, v.container, v.action, v.message) for v in found] == sorted(case.expected)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_engine_reaches_the_model_verdict(
    configs: dict[str, config.Config],
    engines: dict[str, Evaluator],
    case: Hostile,
    engine_name: str,
) -> None:
    cfg = configs[case.config]
    engine = engines[engine_name]
    want = model.evaluate(cfg, case.obj, model.Context(now=NOW, namespaces=case.namespaces))
    got = _evaluate(engine, cfg, case)
    assert verdict(got) == verdict(want)
    assert {(v.rule, v.action) for v in got} == {(r, a) for r, _, a, _ in case.expected}
    # every message an engine gives is one of the model's, word for word
    assert {normalised(v).message for v in got} <= {m for _, _, _, m in case.expected}
    known = namespace_of(case.obj, "default") in case.namespaces
    assert disagreements(want, got, per_rule=engine.per_rule, namespace_known=known) == []
