"""The Gatekeeper library's own gator suites, run against the ConstraintTemplates
policygen generates for an equivalent config.

The suites, samples and constraints under ``gatekeeper-library/`` are upstream
data (Apache-2.0, see its SOURCE.md, LICENSE and NOTICE); the templates are
ours. For each library template we write the policygen config that asks for the
same thing, render it, and run the upstream suite with two substitutions: our
template and constraint, and the sample Pods placed in namespace ``default``
(our constraints are ``scope: Namespaced``; in a cluster a Pod always has the
namespace of its request, and a gator fixture without one counts as
cluster-scoped). Where our semantics are stricter, the case's assertions are
replaced and the reason is given next to the replacement.
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
from policygen.targets import gatekeeper as target
from tests.conftest import NOW

LIBRARY = Path(__file__).parent / "gatekeeper-library"

HEADER = """apiVersion: policygen.dev/v1alpha1
kind: ImagePolicyConfig
metadata: {name: lib}
spec:
  targets: [gatekeeper]
  scope: {namespaces: ["*"]}
"""

EXEMPT = """
  exemptions:
    - name: opa-experiments
      rules: [digest]
      namespaces: ["*"]
      images: ["docker.io/openpolicyagent/opa-exp:latest", "docker.io/openpolicyagent/opa-exp2:latest"]
      reason: the library sample's exemptImages
      owner: platform@corp.example
      expires: 2027-01-31
"""

# folder → (rule, config rules, replaced assertions per case)
SUITES: dict[str, tuple[str, str, dict[str, list[dict[str, Any]]]]] = {
    "k8simagedigests": (
        "digest",
        "  rules: {digest: {action: deny}, pullPolicy: {action: off}, registries: {action: off}}\n",
        {},
    ),
    # repos: ["openpolicyagent/"] is a string prefix; ours is the normalised
    # path on a segment boundary, so docker.io/openpolicyagent.
    "k8sallowedrepos": (
        "registries",
        "  rules: {digest: {action: off}, pullPolicy: {action: off},"
        " registries: {action: deny, allowed: [docker.io/openpolicyagent]}}\n",
        {},
    ),
    # allowedImages globs become registry entries. "ubuntu:20.14" pins a tag,
    # which a registry allow-list cannot say (tags are the digest rule's
    # business), so docker.io/library/ubuntu stands for it; no sample differs.
    "k8sallowedreposv2": (
        "registries",
        "  rules: {digest: {action: off}, pullPolicy: {action: off}, registries: {action: deny,"
        " allowed: [docker.io/openpolicyagent, myregistry.azurecr.io, docker.io/mydockerhub,"
        " docker.io/library/ubuntu, 123456789123.dkr.ecr.eu-west-1.amazonaws.com/postgres]}}\n",
        {},
    ),
    # "No latest tag" is a weaker form of our digest rule: every tag is
    # mutable, not only latest, so tagged images without a digest violate too.
    "k8sdisallowedtags": (
        "digest",
        "  rules: {digest: {action: deny}, pullPolicy: {action: off}, registries: {action: off}}\n"
        + EXEMPT,
        {
            # opa:0.9.2 is a tag, not a digest.
            "allowed": [{"violations": 1, "message": "^container"}],
            # the exemptions lift opa-exp and opa-exp2; init:v1 is still a tag.
            "exempt-images-with-disallowed-tags": [
                {"violations": 1},
                {"violations": 1, "message": '"opa-init" image "openpolicyagent/init:v1"'},
            ],
            # the ephemeral :latest and the container's :0.9.2 both lack a digest.
            "single-disallowed-tag-ephemeral": [
                {"violations": 2},
                {"violations": 1, "message": "ephemeralContainer"},
            ],
            # exact where upstream says "yes": four :latest, two exempt.
            "some-disallow-tags": [{"violations": 2}],
        },
    ),
}

FILE_OF_RULE = {"digest": "digest", "registries": "registries"}


def per_rule(assertions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A case's assertions as our CEL entry meets them: one violation for
    a rule that fails (naming its first offending container), none else."""
    total = next((a for a in assertions if "message" not in a), {"violations": "yes"})
    fails = total.get("violations", "yes") not in ("no", 0)
    return [{"violations": 1 if fails else "no"}]


def derive(folder: str, tmp: Path, *, cel: bool = False) -> Path:
    rule, rules, replaced = SUITES[folder]
    cfg = config.parse(HEADER + rules, f"{folder}.yaml", today=NOW)
    files = target.TARGET.render(cfg, NOW)
    out = tmp / folder
    shutil.copytree(LIBRARY / folder, out)
    template = files[f"template-{FILE_OF_RULE[rule]}.yaml"]
    (out / "template.yaml").write_text(template)
    # a rule with exemptions has no CEL entry: gator runs its Rego either way
    cel = cel and "K8sNativeValidation" in template
    (out / "policygen-constraint.yaml").write_text(files[f"constraint-{FILE_OF_RULE[rule]}.yaml"])
    for sample in out.glob("samples/*/*.yaml"):
        obj = yaml.safe_load(sample.read_text())
        if obj.get("kind") == "Pod":
            obj["metadata"]["namespace"] = "default"
            sample.write_text(yaml.safe_dump(obj))
    suite = yaml.safe_load((out / "suite.yaml").read_text())
    for test in suite["tests"]:
        assert test["template"] == "template.yaml"
        test["constraint"] = "policygen-constraint.yaml"
        for case in test["cases"]:
            if case["name"] in replaced:
                case["assertions"] = replaced[case["name"]]
            if cel:
                case["assertions"] = per_rule(case["assertions"])
    (out / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    return out


@pytest.mark.parametrize("rego", ["opa", "regorus", "regopy"])
@pytest.mark.parametrize("folder", sorted(SUITES))
def test_library_suite_passes_on_our_templates(folder: str, rego: str, tmp_path: Path) -> None:
    """Our templates' Rego entries (gator with CEL off)."""
    suite_dir = derive(folder, tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "gatekeeper",
            "verify",
            str(suite_dir),
            "--rego-engine",
            rego,
            "--disable-k8s-native-validation",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"{case_count(folder)} passed, 0 failed, 0 skipped" in result.output


@pytest.mark.parametrize("folder", sorted(SUITES))
def test_library_suite_passes_on_our_cel_entries(folder: str, tmp_path: Path) -> None:
    """Our templates' CEL entries, as gator runs them by default: the same
    cases fail, each rule once. k8sdisallowedtags exempts images, so its
    template is Rego only (no clock in CEL) and gator evaluates the Rego."""
    result = CliRunner().invoke(
        app, ["gatekeeper", "verify", str(derive(folder, tmp_path, cel=True))]
    )
    assert result.exit_code == 0, result.output
    engine = "opa" if "exemptions:" in SUITES[folder][1] else "cel"
    assert f"engines: {engine}" in result.output
    assert f"{case_count(folder)} passed, 0 failed, 0 skipped" in result.output


def case_count(folder: str) -> int:
    suite = yaml.safe_load((LIBRARY / folder / "suite.yaml").read_text())
    return sum(len(t["cases"]) for t in suite["tests"])


def test_every_replaced_case_exists_upstream() -> None:
    for folder, (_, _, replaced) in SUITES.items():
        suite = yaml.safe_load((LIBRARY / folder / "suite.yaml").read_text())
        names = {c["name"] for t in suite["tests"] for c in t["cases"]}
        assert set(replaced) <= names, folder


def test_upstream_expectation_fails_where_we_are_stricter(tmp_path: Path) -> None:
    """The replacements are needed: with upstream's assertion the allowed tag fails."""
    suite_dir = derive("k8sdisallowedtags", tmp_path)
    suite = yaml.safe_load((suite_dir / "suite.yaml").read_text())
    suite["tests"][0]["cases"][0]["assertions"] = [{"violations": "no"}]
    (suite_dir / "suite.yaml").write_text(yaml.safe_dump(suite))
    result = CliRunner().invoke(
        app,
        [
            "gatekeeper",
            "verify",
            str(suite_dir),
            "--run",
            "allowed$",
            "--disable-k8s-native-validation",
        ],
    )
    assert result.exit_code == 1
    assert "FAIL disallowedtags/disallowed-tags/allowed" in result.output
    assert "got 1 violation(s), want no" in result.output
    assert (
        '| container "opa" image "openpolicyagent/opa:0.9.2" must be pinned by digest (@sha256:<64 hex>)'
        in result.output
    )
