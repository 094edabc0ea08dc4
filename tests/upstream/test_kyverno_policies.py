"""The kyverno/policies test fixtures, run against the ClusterPolicies
policygen generates for an equivalent config.

The resources, values, patched resources and expected results under
``kyverno-policies/`` are upstream data (Apache-2.0, see its SOURCE.md and
LICENSE); the policies are ours. For each upstream policy we write the
policygen config that asks for the same thing, render it, and run the
upstream ``kyverno-test.yaml`` with its policy and rule names mapped to ours.
Where our semantics must differ, the expected result is replaced and the
reason is given beside the replacement. The ``-vpol`` folders run the same
way against the ValidatingPolicies of the kyverno-cel target; see the README
beside this file for what was left out.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from policygen import config
from policygen.cli import app
from policygen.targets import kyverno as target
from policygen.targets import kyverno_cel as cel_target
from tests.conftest import NOW

UPSTREAM = Path(__file__).parent / "kyverno-policies"

HEADER = """apiVersion: policygen.dev/v1alpha1
kind: ImagePolicyConfig
metadata: {name: lib}
spec:
  targets: [kyverno]
  scope: {namespaces: ["*"]}
  rules:
"""
DIGEST_ONLY = (
    "    digest: {action: deny}\n    pullPolicy: {action: off}\n    registries: {action: off}\n"
)
PULL_ONLY = (
    "    digest: {action: off}\n    pullPolicy: {action: deny}\n    registries: {action: off}\n"
)
MUTATE_ONLY = (
    "    digest: {action: off}\n    pullPolicy: {action: mutate}\n    registries: {action: off}\n"
)


def registries_only(*allowed: str) -> str:
    return (
        "    digest: {action: off}\n    pullPolicy: {action: off}\n"
        f"    registries: {{action: deny, allowed: [{', '.join(allowed)}]}}\n"
    )


# CLI semantics kept in comments: the Kyverno CLI does not default
# imagePullPolicy, the API server does (to Always for :latest and no tag).
NOT_DEFAULTED = "the CLI leaves imagePullPolicy empty; the API server defaults it to Always"


class Suite:
    def __init__(
        self,
        rules: str,
        policy_file: str,
        rule_map: dict[str, str],
        replaced: dict[tuple[str, str], str] | None = None,
        unpatched: tuple[str, ...] = (),
        api_defaults: bool = False,
    ) -> None:
        self.rules = rules
        self.policy_file = policy_file
        self.rule_map = rule_map
        self.replaced = replaced or {}
        self.unpatched = unpatched
        #: the replacements are the cluster's answers: default as the API server
        self.api_defaults = api_defaults


SUITES: dict[str, Suite] = {
    "require-image-checksum": Suite(
        DIGEST_ONLY, "require-image-digest", {"require-image-checksum": "require-image-digest"}
    ),
    "imagepullpolicy-always": Suite(
        PULL_ONLY,
        "require-pull-always",
        {"imagepullpolicy-always": "require-pull-always"},
        {
            # nginx:latest and nginx with no policy: NOT_DEFAULTED, so they pass.
            ("imagepullpolicy-always", "myapp-pod-2"): "pass",
            ("imagepullpolicy-always", "mydeploy1"): "pass",
        },
        api_defaults=True,
    ),
    "always-pull-images": Suite(
        MUTATE_ONLY,
        "require-pull-always",
        {"always-pull-images": "set-pull-always"},
        {
            # Upstream's `(name): "?*"` anchor skips a container named "";
            # ours patches every container by name, and the API server
            # rejects nameless containers anyway, so only offline differs.
            ("always-pull-images", "myapp-pod-2"): "pass",
        },
        # and so its patched form has imagePullPolicy set, unlike upstream's.
        unpatched=("myapp-pod-2",),
    ),
    "restrict-image-registries": Suite(
        registries_only("eu.foo.io", "bar.io"),
        "restrict-image-registries",
        {"validate-registries": "shared-registries"},
    ),
    # Upstream reads the allow-lists from a ConfigMap and a Namespace
    # annotation; its values file mocks both as docker.io/*.
    "advanced-restrict-image-registries": Suite(
        registries_only("docker.io"),
        "restrict-image-registries",
        {"validate-corp-registries": "shared-registries"},
    ),
    "restrict-deprecated-registry": Suite(
        registries_only("registry.k8s.io"),
        "restrict-image-registries",
        {"restrict-deprecated-registry": "shared-registries"},
    ),
    # "No latest tag" is a weak digest rule: every tag is mutable, so
    # the tagged images upstream accepts are violations for us.
    "disallow-latest-tag": Suite(
        DIGEST_ONLY,
        "require-image-digest",
        {"require-image-tag": "require-image-digest", "validate-image-tag": "require-image-digest"},
        {
            ("require-image-tag", "myapp-pod"): "fail",
            ("require-image-tag", "gooddeployment01"): "fail",
            ("validate-image-tag", "myapp-pod"): "fail",
            ("validate-image-tag", "gooddeployment01"): "fail",
        },
    ),
}


# Our policies match Pods and let Kyverno's autogen write the controller
# rules, named as pkg/autogen/v1 names them.
AUTOGEN_PREFIX = {"CronJob": "autogen-cronjob-", "Deployment": "autogen-"}


def prepare(folder: str, tmp: Path, policy: str) -> tuple[Path, dict[str, Any]]:
    """A copy of the upstream test folder with our policy in it, and its Test."""
    out = tmp / folder
    shutil.copytree(UPSTREAM / folder / "kyverno-test", out)
    (out / "policy.yaml").write_text(policy)
    test = yaml.safe_load((out / "kyverno-test.yaml").read_text())
    test["policies"] = ["policy.yaml"]
    return out, test


def derive(folder: str, tmp: Path) -> Path:
    suite = SUITES[folder]
    cfg = config.parse(HEADER + suite.rules, f"{folder}.yaml", today=NOW)
    out, test = prepare(folder, tmp, target.TARGET.render(cfg, NOW)[f"{suite.policy_file}.yaml"])
    results: list[dict[str, Any]] = []
    for result in test["results"]:
        for resource in result["resources"]:
            name = resource.rsplit("/", 1)[-1]
            row = {
                **result,
                "resources": [resource],
                "policy": f"lib-{suite.policy_file}",
                "rule": AUTOGEN_PREFIX.get(result["kind"], "") + suite.rule_map[result["rule"]],
                "result": suite.replaced.get((result["rule"], name), result["result"]),
            }
            if name in suite.unpatched:
                row.pop("patchedResources", None)
            results.append(row)
    test["results"] = results
    (out / "kyverno-test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    return out


def expected_rows(folder: str) -> int:
    test = yaml.safe_load((UPSTREAM / folder / "kyverno-test" / "kyverno-test.yaml").read_text())
    return sum(len(r["resources"]) for r in test["results"])


@pytest.mark.parametrize("folder", sorted(SUITES))
def test_upstream_results_on_our_policies(folder: str, tmp_path: Path) -> None:
    defaults = ["--api-defaults"] if SUITES[folder].api_defaults else []
    result = CliRunner().invoke(app, ["kyverno", "test", str(derive(folder, tmp_path)), *defaults])
    assert result.exit_code == 0, result.output
    assert f"{expected_rows(folder)} passed, 0 failed, 0 refused" in result.output


def test_every_replacement_names_an_upstream_row() -> None:
    for folder, suite in SUITES.items():
        test = yaml.safe_load(
            (UPSTREAM / folder / "kyverno-test" / "kyverno-test.yaml").read_text()
        )
        rows = {
            (r["rule"], res.rsplit("/", 1)[-1]) for r in test["results"] for res in r["resources"]
        }
        assert set(suite.replaced) <= rows, folder


def test_without_api_defaults_we_give_the_clis_answer(tmp_path: Path) -> None:
    """Upstream's pull-policy expectations hold exactly when we, like the
    CLI, leave imagePullPolicy empty; the replacements are the cluster's answer."""
    folder = derive("imagepullpolicy-always", tmp_path)
    result = CliRunner().invoke(app, ["kyverno", "test", str(folder)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert lines == [
        "FAIL imagepullpolicy-always  lib-require-pull-always/autogen-require-pull-always  Deployment/default/mydeploy1  want pass, got fail",
        "FAIL imagepullpolicy-always  lib-require-pull-always/require-pull-always  Pod/default/myapp-pod-2  want pass, got fail",
    ]


# --- ValidatingPolicy (`-vpol`) folders, against the kyverno-cel target ---------


class VpolSuite:
    def __init__(
        self, rules: str, policy_file: str, replaced: dict[str, str] | None = None
    ) -> None:
        self.rules = rules
        self.policy_file = policy_file
        self.replaced = replaced or {}  # resource name → our result


VPOL_SUITES: dict[str, VpolSuite] = {
    "require-image-checksum-vpol": VpolSuite(DIGEST_ONLY, "digest"),
    "imagepullpolicy-always-vpol": VpolSuite(PULL_ONLY, "pull-policy"),
    "restrict-image-registries-vpol": VpolSuite(
        registries_only("eu.foo.io", "bar.io"), "registries"
    ),
    # Upstream reads a shared list from a ConfigMap ("ghcr.io, myregistry")
    # and a per-namespace one from an annotation ("img.corp.com, docker.io"):
    # a tenant, for us. Upstream compares prefixes; by the distribution
    # grammar "myregistry/busybox" is Docker Hub's myregistry/busybox.
    "advanced-restrict-image-registries-vpol": VpolSuite(
        registries_only("ghcr.io", "docker.io/myregistry")
        + "  tenants:\n"
        + "    - {name: ns01, namespaces: [imageregistries-ns01],"
        + " registries: [img.corp.com, docker.io]}\n",
        "registries",
    ),
    "restrict-deprecated-registry-vpol": VpolSuite(
        registries_only("registry.k8s.io"), "registries"
    ),
    # "No latest tag" is a weak digest rule: the tagged images upstream
    # accepts are violations for us.
    "disallow-latest-tag-vpol": VpolSuite(
        DIGEST_ONLY, "digest", {"gooddeployment01": "fail", "myapp-pod": "fail"}
    ),
}


def derive_vpol(folder: str, tmp: Path) -> Path:
    suite = VPOL_SUITES[folder]
    text = HEADER.replace("targets: [kyverno]", "targets: [kyverno-cel]") + suite.rules
    cfg = config.parse(text, f"{folder}.yaml", today=NOW)
    policy = cel_target.TARGET.render(cfg, NOW)[f"{suite.policy_file}.yaml"]
    out, test = prepare(folder, tmp, policy)
    results: list[dict[str, Any]] = []
    for result in test["results"]:
        for resource in result["resources"]:
            name = resource.rsplit("/", 1)[-1]
            results.append(
                {
                    **result,
                    "resources": [resource],
                    "policy": f"lib-{suite.policy_file}",
                    "result": suite.replaced.get(name, result["result"]),
                }
            )
    test["results"] = results
    (out / "kyverno-test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    return out


def test_every_validating_policy_replacement_names_an_upstream_row() -> None:
    for folder, suite in VPOL_SUITES.items():
        test = yaml.safe_load(
            (UPSTREAM / folder / "kyverno-test" / "kyverno-test.yaml").read_text()
        )
        rows = {res.rsplit("/", 1)[-1] for r in test["results"] for res in r["resources"]}
        assert set(suite.replaced) <= rows, folder


@pytest.mark.parametrize("folder", sorted(VPOL_SUITES))
def test_upstream_validating_policy_results_on_our_policies(folder: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["kyverno", "test", str(derive_vpol(folder, tmp_path))])
    assert result.exit_code == 0, result.output
    # A result names resources by name whatever their kind, as in the CLI:
    # a Namespace named like a Pod is checked too.
    assert f"{expected_rows(folder)} passed, 0 failed, 0 refused" in result.output or (
        folder == "advanced-restrict-image-registries-vpol"
        and f"{expected_rows(folder) + 1} passed, 0 failed, 0 refused" in result.output
    )
