"""kyverno test files: values, namespaced resource names, patched resources."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from policygen.cli import app

FIXTURE = Path(__file__).parent / "fixtures" / "kyverno-test"
ROOT = Path(__file__).resolve().parent.parent


def kyverno_test(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["kyverno", "test", *args])
    return result.exit_code, result.output


def test_our_fixture_passes() -> None:
    code, out = kyverno_test(str(FIXTURE))
    assert code == 0, out
    assert out.splitlines()[-1] == "6 passed, 0 failed, 0 refused"
    # the autogen rule answers for the Deployment
    assert "ok   tiny  tiny/autogen-team-label  Deployment/prod/web  want fail" in out


def test_wrong_expectations_and_patches_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    shutil.copytree(FIXTURE, folder)
    test = yaml.safe_load((folder / "kyverno-test.yaml").read_text())
    test["results"][3]["result"] = "pass"
    (folder / "kyverno-test.yaml").write_text(yaml.safe_dump(test))
    (folder / "patched.yaml").write_text(
        (folder / "patched.yaml").read_text().replace("Always", "Never")
    )
    code, out = kyverno_test(str(folder))
    assert code == 1
    assert [line for line in out.splitlines() if line.startswith("FAIL")] == [
        "FAIL tiny  tiny/always  Pod/prod/labelled  want pass, got pass; patched resource differs from patched.yaml",
        "FAIL tiny  tiny/team-label  Pod/prod/unlabelled  want pass, got fail",
    ]


def test_unknown_policy_is_an_input_error(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    shutil.copytree(FIXTURE, folder)
    text = (
        (folder / "kyverno-test.yaml")
        .read_text()
        .replace("policy: tiny, rule: always", "policy: nope, rule: always", 1)
    )
    (folder / "kyverno-test.yaml").write_text(text)
    code, out = kyverno_test(str(folder))
    assert code == 2
    assert "results[0].policy: no policy named 'nope'" in out


def test_nothing_found_is_an_input_error(tmp_path: Path) -> None:
    code, out = kyverno_test(str(tmp_path))
    assert code == 2
    assert "no test files found" in out


def _validating_policy_test(tmp_path: Path, results: list[dict[str, object]]) -> Path:
    """A Test over the example's kyverno-cel digest policy."""
    folder = tmp_path / "vpol"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "policies" / "kyverno-cel" / "digest.yaml", folder / "policy.yaml")
    pods = [
        ("pinned", "team-a", f"harbor.corp.example/team-a/app@sha256:{'ab' * 32}"),
        ("tagged", "team-a", "harbor.corp.example/team-a/app:1"),
        ("system", "kube-system", "nginx"),
    ]
    (folder / "resources.yaml").write_text(
        "".join(
            f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\n"
            f"spec: {{containers: [{{name: c, image: '{image}'}}]}}\n"
            for name, ns, image in pods
        )
    )
    test = {
        "apiVersion": "cli.kyverno.io/v1alpha1",
        "kind": "Test",
        "metadata": {"name": "vpol"},
        "policies": ["policy.yaml"],
        "resources": ["resources.yaml"],
        "results": results,
    }
    (folder / "kyverno-test.yaml").write_text(yaml.safe_dump(test))
    return folder


def test_validating_policy_results_pass_fail_and_skip(tmp_path: Path) -> None:
    rows = [
        ("team-a/pinned", "pass"),
        ("team-a/tagged", "fail"),
        ("kube-system/system", "skip"),  # excluded by a matchCondition
    ]
    results: list[dict[str, object]] = [
        {
            "isValidatingPolicy": True,
            "policy": "acme-digest",
            "kind": "Pod",
            "resources": [ref],
            "result": want,
        }
        for ref, want in rows
    ]
    code, out = kyverno_test(str(_validating_policy_test(tmp_path, results)))
    assert code == 0, out
    assert out.splitlines()[-1] == "3 passed, 0 failed, 0 refused"
    results[2]["result"] = "pass"
    code, out = kyverno_test(str(_validating_policy_test(tmp_path / "again", results)))
    assert code == 1
    assert "FAIL vpol  acme-digest/  Pod/kube-system/system  want pass, got skip" in out


def test_the_evaluator_is_chosen_by_the_policys_kind(tmp_path: Path) -> None:
    """The CLI goes by the kind of the policy a result names, not by the
    result's isXxxPolicy flags: a wrong flag changes nothing."""
    results: list[dict[str, object]] = [
        {
            "isMutatingPolicy": True,
            "policy": "acme-digest",
            "kind": "Pod",
            "resources": ["team-a/tagged"],
            "result": "fail",
        }
    ]
    code, out = kyverno_test(str(_validating_policy_test(tmp_path, results)))
    assert code == 0, out
    assert out.splitlines()[-1] == "1 passed, 0 failed, 0 refused"


def test_other_policy_kinds_are_refused_and_the_rest_still_runs(tmp_path: Path) -> None:
    folder = _validating_policy_test(
        tmp_path,
        [
            {"policy": "other", "kind": "Pod", "resources": ["team-a/pinned"], "result": "pass"},
            {
                "policy": "acme-digest",
                "kind": "Pod",
                "resources": ["team-a/tagged"],
                "result": "fail",
            },
        ],
    )
    (folder / "other.yaml").write_text(
        "apiVersion: policies.kyverno.io/v1\nkind: GeneratingPolicy\nmetadata: {name: other}\n"
    )
    test = yaml.safe_load((folder / "kyverno-test.yaml").read_text())
    test["policies"].append("other.yaml")
    (folder / "kyverno-test.yaml").write_text(yaml.safe_dump(test))
    code, out = kyverno_test(str(folder))
    assert code == 2
    assert "results[0].policy: GeneratingPolicy policies are not evaluated" in out
    assert out.splitlines()[-1] == "1 passed, 0 failed, 1 refused"


def test_a_test_without_results_passes(tmp_path: Path) -> None:
    folder = _validating_policy_test(tmp_path, [])
    code, out = kyverno_test(str(folder))
    assert code == 0, out
    assert out.splitlines()[-1] == "0 passed, 0 failed, 0 refused"


def test_a_broken_test_file_does_not_stop_the_others(tmp_path: Path) -> None:
    good = _validating_policy_test(
        tmp_path / "good",
        [
            {
                "policy": "acme-digest",
                "kind": "Pod",
                "resources": ["team-a/tagged"],
                "result": "fail",
            }
        ],
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "kyverno-test.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    code, out = kyverno_test(str(tmp_path))
    assert code == 2
    assert f"REFUSED bad  /  {bad / 'kyverno-test.yaml'}: " in out
    assert "not a cli.kyverno.io/v1alpha1 Test" in out
    assert str(good.name) and out.splitlines()[-1] == "1 passed, 0 failed, 1 refused"


VPOL = """
apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata: {name: team-label}
spec:
  validationActions: [Audit]
  matchConstraints:
    resourceRules:
      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}
  validations:
    - expression: "object.metadata.?labels[?'team'].orValue('') != ''"
      message: team label required
"""
VPOL_RESOURCES = """
apiVersion: v1
kind: Pod
metadata: {name: labelled, labels: {team: a}}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: unlabelled}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {template: {metadata: {labels: {team: a}}, spec: {containers: [{name: c, image: nginx}]}}}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
spec: {}
"""


def _vpol_test(tmp_path: Path, results: list[dict[str, object]], policy: str = VPOL) -> Path:
    (tmp_path / "policy.yaml").write_text(policy)
    (tmp_path / "resources.yaml").write_text(VPOL_RESOURCES)
    test = {
        "apiVersion": "cli.kyverno.io/v1alpha1",
        "kind": "Test",
        "metadata": {"name": "vpol"},
        "policies": ["policy.yaml"],
        "resources": ["resources.yaml"],
        "results": results,
    }
    (tmp_path / "kyverno-test.yaml").write_text(yaml.safe_dump(test))
    return tmp_path


def test_validating_policy_results_as_the_cli_counts_them(tmp_path: Path) -> None:
    """Chosen by the policy's kind (no isValidatingPolicy flag needed); a
    Deployment is judged by the autogen copy. A Service matches none of
    them, and the autogen copies (more than one rule) keep their empty
    response: excluded, which passes whatever was expected."""
    results: list[dict[str, object]] = [
        {"policy": "team-label", "kind": "Pod", "resources": ["labelled"], "result": "pass"},
        {"policy": "team-label", "kind": "Pod", "resources": ["unlabelled"], "result": "fail"},
        {"policy": "team-label", "kind": "Deployment", "resources": ["web"], "result": "pass"},
        {"policy": "team-label", "kind": "Service", "resources": ["svc"], "result": "fail"},
    ]
    code, out = kyverno_test(str(_vpol_test(tmp_path, results)))
    assert (code, out.splitlines()[-1]) == (0, "4 passed, 0 failed, 0 refused")


def test_a_one_rule_validating_policy_that_does_not_match_is_not_found(tmp_path: Path) -> None:
    """The CLI drops the empty response of a policy with one plain resource
    rule (here: autogen off), so the row finds nothing and fails."""
    policy = VPOL.replace(
        "  validations:", "  autogen: {podControllers: {controllers: []}}\n  validations:"
    )
    results: list[dict[str, object]] = [
        {"policy": "team-label", "kind": "Service", "resources": ["svc"], "result": "skip"},
    ]
    code, out = kyverno_test(str(_vpol_test(tmp_path, results, policy)))
    assert code == 1
    assert out.splitlines()[-2:] == [
        "FAIL vpol  team-label/  Service/default/svc  want skip, got fail; no response: not found",
        "0 passed, 1 failed, 0 refused",
    ]


def test_a_validating_policy_with_a_selector_excludes_rather_than_misses(tmp_path: Path) -> None:
    """With a selector the CLI keeps the empty response: not matching is a
    pass ("excluded") whatever result was expected."""
    policy = VPOL.replace(
        "  validations:",
        "    objectSelector: {matchLabels: {team: a}}\n"
        "  autogen: {podControllers: {controllers: []}}\n  validations:",
    )
    results: list[dict[str, object]] = [
        {"policy": "team-label", "kind": "Pod", "resources": ["unlabelled"], "result": "fail"},
    ]
    code, out = kyverno_test(str(_vpol_test(tmp_path, results, policy)))
    assert (code, out.splitlines()[-1]) == (0, "1 passed, 0 failed, 0 refused")


MPOL = """
apiVersion: policies.kyverno.io/v1alpha1
kind: MutatingPolicy
metadata: {name: always-pull}
spec:
  matchConstraints:
    resourceRules:
      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: >-
          Object{spec: Object.spec{containers: object.spec.containers.map(c,
          Object.spec.containers{name: c.name, imagePullPolicy: "Always"})}}
"""


def test_mutating_policy_results_compare_the_patched_resource(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(MPOL)
    (tmp_path / "resources.yaml").write_text(VPOL_RESOURCES)
    patched = yaml.safe_load(VPOL_RESOURCES.split("---")[0])
    patched["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    patched["metadata"]["namespace"] = "default"
    (tmp_path / "patched.yaml").write_text(yaml.safe_dump(patched))
    test = {
        "apiVersion": "cli.kyverno.io/v1alpha1",
        "kind": "Test",
        "metadata": {"name": "mpol"},
        "policies": ["policy.yaml"],
        "resources": ["resources.yaml"],
        "results": [
            {
                "policy": "always-pull",
                "kind": "Pod",
                "resources": ["labelled"],
                "patchedResources": "patched.yaml",
                "result": "pass",
            }
        ],
    }
    (tmp_path / "kyverno-test.yaml").write_text(yaml.safe_dump(test))
    code, out = kyverno_test(str(tmp_path))
    assert (code, out.splitlines()[-1]) == (0, "1 passed, 0 failed, 0 refused")
    (tmp_path / "patched.yaml").write_text(yaml.safe_dump(patched).replace("Always", "Never"))
    code, out = kyverno_test(str(tmp_path))
    assert code == 1
    assert "patched resource differs from patched.yaml" in out


def test_userinfo_and_rule_values_as_the_cli_reads_them(tmp_path: Path) -> None:
    """The requester comes from the userinfo file; a rule's values reach only
    that rule (not its autogen copies), with dotted keys made maps."""
    (tmp_path / "policy.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kyverno.io/v1",
                "kind": "ClusterPolicy",
                "metadata": {"name": "p"},
                "spec": {
                    "rules": [
                        {
                            "name": "admins-only",
                            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                            "exclude": {"any": [{"clusterRoles": ["cluster-admin"]}]},
                            "validate": {"message": "no", "deny": {}},
                        },
                        {
                            "name": "limit",
                            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                            "context": [
                                {"name": "cfg", "configMap": {"name": "c", "namespace": "x"}}
                            ],
                            "validate": {
                                "message": "over",
                                "deny": {
                                    "conditions": {
                                        "any": [
                                            {
                                                "key": "{{ cfg.data.max }}",
                                                "operator": "Equals",
                                                "value": "1",
                                            }
                                        ]
                                    }
                                },
                            },
                        },
                    ]
                },
            }
        )
    )
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x}]}\n"
    )
    (tmp_path / "user.yaml").write_text(
        "apiVersion: cli.kyverno.io/v1alpha1\nkind: UserInfo\nclusterRoles: [cluster-admin]\n"
        "userInfo: {username: alice}\n"
    )
    (tmp_path / "values.yaml").write_text(
        "apiVersion: cli.kyverno.io/v1alpha1\nkind: Values\npolicies:\n- name: p\n  rules:\n"
        "  - name: limit\n    values: {cfg.data.max: '1'}\n"
    )
    test = {
        "apiVersion": "cli.kyverno.io/v1alpha1",
        "kind": "Test",
        "metadata": {"name": "who"},
        "policies": ["policy.yaml"],
        "resources": ["pod.yaml"],
        "userinfo": "user.yaml",
        "variables": "values.yaml",
        "results": [
            {
                "policy": "p",
                "rule": "admins-only",
                "kind": "Pod",
                "resources": ["a"],
                "result": "fail",
            },
            {"policy": "p", "rule": "limit", "kind": "Pod", "resources": ["a"], "result": "fail"},
        ],
    }
    (tmp_path / "kyverno-test.yaml").write_text(yaml.safe_dump(test))
    code, out = kyverno_test(str(tmp_path))
    assert code == 0, out
    assert "ok   who  p/admins-only  Pod/default/a  want fail (no rule response: excluded" in out
    assert "ok   who  p/limit  Pod/default/a  want fail" in out


@pytest.mark.parametrize(
    ("now", "result"), [("2027-03-31T23:59:59Z", "pass"), ("2027-04-01T00:00:00Z", "fail")]
)
def test_now_is_the_clock_of_both_kyverno_evaluators(tmp_path: Path, now: str, result: str) -> None:
    """The committed bundle's digest policies and the scraper exemption:
    the ClusterPolicy's time_now_utc() and the CEL PolicyException's
    expiresAt and time.now() read --now, so the exemption holds through
    its last second and lapses at the next one."""
    folder = tmp_path / "expiry"
    folder.mkdir()
    for target, name in [
        ("kyverno", "require-image-digest.yaml"),
        ("kyverno-cel", "digest.yaml"),
        ("kyverno-cel", "exceptions.yaml"),
    ]:
        shutil.copy(ROOT / "policies" / target / name, folder / f"{target}-{name}")
    (folder / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: scraper, namespace: logging}\n"
        "spec: {containers: [{name: scraper, image: 'harbor.corp.example/infra/scraper:27.15',"
        " imagePullPolicy: Always}]}\n"
    )
    test = {
        "apiVersion": "cli.kyverno.io/v1alpha1",
        "kind": "Test",
        "metadata": {"name": "expiry"},
        "policies": ["kyverno-require-image-digest.yaml", "kyverno-cel-digest.yaml"],
        "exceptions": ["kyverno-cel-exceptions.yaml"],
        "resources": ["pod.yaml"],
        "results": [
            {
                "policy": "acme-require-image-digest",
                "rule": "require-image-digest",
                "kind": "Pod",
                "resources": ["scraper"],
                "result": result,
            },
            {
                "policy": "acme-digest",
                "kind": "Pod",
                "resources": ["scraper"],
                "result": result,
                "isValidatingPolicy": True,
            },
        ],
    }
    (folder / "kyverno-test.yaml").write_text(yaml.safe_dump(test))
    code, output = kyverno_test(str(folder), "--now", now)
    assert code == 0, output
    assert output.endswith("2 passed, 0 failed, 0 refused\n")
