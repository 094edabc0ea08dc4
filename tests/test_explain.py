"""``policygen explain`` says what ``policygen scan`` decides: both run on the
same generated cases (the built-in corpus's namespaces, images and pull
policies, as a container and as an image volume) and must give each rule
the same verdict."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from policygen import config, fixtures
from policygen.engines import EvalContext, create
from policygen.explain import explain, workload
from policygen.scan import ObjectResult, scan
from policygen.violations import ACTION_STRENGTH
from tests import golden
from tests.conftest import EXAMPLE, NOW
from tests.test_hostile import configs_text

RULES = ("digest", "pullPolicy", "registries")


def explained(text: str) -> dict[str, str]:
    """Each rule's verdict as explain words it: deny/warn/audit/allow, or
    unknown when the Namespace would be needed."""
    lines = text.splitlines()
    verdict = next((line for line in lines if line.startswith("verdict:")), "")
    if "ALLOW" in verdict:
        return dict.fromkeys(RULES, "allow")
    if "UNKNOWN" in verdict:
        return dict.fromkeys(RULES, "unknown")
    out = {}
    for line in lines:
        rule, _, said = line.partition(" ")
        if rule in RULES:
            head = said.strip().split(":", 1)[0]
            out[rule] = head.lower() if head in ("DENY", "WARN", "AUDIT") else "allow"
    return out


def scanned(result: ObjectResult) -> dict[str, str]:
    found = result.violations
    if any(v.rule == "scope" for v in found):
        return dict.fromkeys(RULES, "unknown")
    out = dict.fromkeys(RULES, "allow")
    for v in found:
        if ACTION_STRENGTH[v.action] > ACTION_STRENGTH[out[v.rule]]:
            out[v.rule] = v.action
    return out


def cases(cfg: config.Config) -> list[tuple[str, str, str | None, bool]]:
    namespaces = [*fixtures.builtin_namespaces(cfg), "policygen-unknown", "kube-system"]
    images = fixtures.builtin_images(cfg)
    policies = [None, "Always", "IfNotPresent", ""]
    return list(itertools.product(namespaces, images, policies, [False, True]))


CONFIGS = {
    "example": EXAMPLE.read_text(),
    "mutate-selectors": golden.cases()["mutate-selectors"].read_text(),
    **{k: v for k, v in configs_text().items() if k != "example"},
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_explain_and_scan_agree(name: str, tmp_path: Path) -> None:
    cfg = config.parse(CONFIGS[name], f"{name}.yaml", today=NOW)
    known = fixtures.builtin_namespaces(cfg)
    todo = cases(cfg)
    docs: list[dict[str, Any]] = list(known.values())
    for i, (ns, image, policy, volume) in enumerate(todo):
        obj = workload(image, ns, policy, volume=volume)
        obj["metadata"]["name"] = f"case-{i}"
        docs.append(obj)
    path = tmp_path / "cases.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    results = {
        r.name: r
        for r in scan(cfg, [str(path)], [create("model")], EvalContext(NOW))
        if isinstance(r, ObjectResult)
    }
    assert len(results) == len(todo)
    differ = []
    for i, (ns, image, policy, volume) in enumerate(todo):
        ns_objs = {ns: known[ns]} if ns in known else {}
        said = explained(explain(cfg, image, ns, policy, NOW, volume=volume, namespaces=ns_objs))
        if said != scanned(results[f"case-{i}"]):
            differ.append((ns, image, policy, volume, said, scanned(results[f"case-{i}"])))
    assert differ == []


def test_explain_reads_selectors_mutation_and_volumes() -> None:
    cfg = config.parse(CONFIGS["mutate-selectors"], "m.yaml", today=NOW)
    labelled = {"prod-a": {"metadata": {"name": "prod-a", "labels": {"tenant": "red"}}}}
    head = [
        "image:      ghcr.io/red/app:1",
        "normalised: ghcr.io/red/app:1",
        "registry:   ghcr.io",
        "repository: red/app",
        "tag:        1",
        "digest:     -",
    ]
    assert explain(cfg, "ghcr.io/red/app:1", "prod-a", None, NOW).splitlines() == [
        *head,
        "pullPolicy: IfNotPresent (API-server default)",
        "namespace:  prod-a",
        "verdict:    UNKNOWN (scope.namespaceSelector needs the Namespace object; "
        "pass its labels with --label)",
    ]
    assert explain(
        cfg, "ghcr.io/red/app:1", "prod-a", "", NOW, namespaces=labelled
    ).splitlines() == [
        *head,
        "pullPolicy: IfNotPresent (API-server default)",
        "namespace:  prod-a",
        "tenants:    red",
        "digest      pass (namespace not opted in to digest pinning)",
        "pullPolicy  pass (set to Always by mutation)",
        "registries  pass",
    ]
    assert explain(
        cfg, "ghcr.io/red/app:1", "prod-a", None, NOW, volume=True, namespaces=labelled
    ).splitlines()[6:] == [
        "pullPolicy: IfNotPresent (API-server default, image volume)",
        "namespace:  prod-a",
        "tenants:    red",
        "digest      pass (namespace not opted in to digest pinning)",
        'pullPolicy  DENY: volume "explain" must set pullPolicy: Always, not IfNotPresent',
        "registries  pass",
    ]


def test_explain_never_exempts_an_invalid_image() -> None:
    cfg = config.parse(CONFIGS["exemptions"], "e.yaml", today=NOW)
    trick = "ghcr.io/acme/runner@sha256:" + "0123456789abcdef" * 4 + "/../../evil/x"
    lines = explain(cfg, trick, "ci", "Always", NOW).splitlines()
    assert lines[1] == "parse:      INVALID (does not match the image reference grammar)"
    assert lines[-3:] == [
        f'digest      DENY: container "explain" image "{trick}" is not a valid image reference',
        "pullPolicy  pass",
        f'registries  DENY: container "explain" image "{trick}" is not a valid image reference',
    ]
