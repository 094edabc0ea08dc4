"""gator verify suites: the assertion rules, paths, inventory and AdmissionReview."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from policygen.cli import app
from policygen.gatekeeper_suite import Assertion

TEMPLATE = {
    "apiVersion": "templates.gatekeeper.sh/v1",
    "kind": "ConstraintTemplate",
    "metadata": {"name": "k8slabels"},
    "spec": {
        "crd": {"spec": {"names": {"kind": "K8sLabels"}}},
        "targets": [
            {
                "target": "admission.k8s.gatekeeper.sh",
                "rego": """package k8slabels

import future.keywords.contains
import future.keywords.if
import future.keywords.in

violation contains {"msg": sprintf("Missing label %v", [key])} if {
	some key in input.parameters.labels
	not input.review.object.metadata.labels[key]
}

violation contains {"msg": sprintf("op %v by %v", [input.review.operation, input.review.userInfo.username])} if {
	input.review.operation != ""
}

violation contains {"msg": "team namespace is frozen"} if {
	data.inventory.cluster.v1.Namespace[input.review.namespace].metadata.labels.frozen == "yes"
}
""",
            }
        ],
    },
}

CONSTRAINT = {
    "apiVersion": "constraints.gatekeeper.sh/v1beta1",
    "kind": "K8sLabels",
    "metadata": {"name": "need-labels"},
    "spec": {
        "match": {"namespaceSelector": {"matchLabels": {"team": "a"}}},
        "parameters": {"labels": ["app", "owner"]},
    },
}


def pod(labels: dict[str, str], ns: str = "team-a") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns, "labels": labels},
    }


NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "team-a", "labels": {"team": "a"}},
}
FROZEN = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "team-a", "labels": {"team": "a", "frozen": "yes"}},
}


def write_suite(tmp: Path, cases: list[dict], **test_extra: object) -> Path:
    files = {
        "template.yaml": TEMPLATE,
        "constraint.yaml": CONSTRAINT,
        "ns.yaml": NAMESPACE,
        "frozen.yaml": FROZEN,
        "none.yaml": pod({}),
        "app.yaml": pod({"app": "x"}),
        "both.yaml": pod({"app": "x", "owner": "y"}),
        "review.yaml": {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "operation": "UPDATE",
                "userInfo": {"username": "alice"},
                "object": pod({"app": "x", "owner": "y"}),
            },
        },
    }
    for name, doc in files.items():
        (tmp / name).write_text(yaml.safe_dump(doc))
    suite = {
        "kind": "Suite",
        "apiVersion": "test.gatekeeper.sh/v1alpha1",
        "metadata": {"name": "labels"},
        "tests": [
            {
                "name": "t",
                "template": "template.yaml",
                "constraint": "constraint.yaml",
                "cases": cases,
                **test_extra,
            }
        ],
    }
    (tmp / "suite.yaml").write_text(yaml.safe_dump(suite))
    return tmp / "suite.yaml"


def verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["gatekeeper", "verify", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("want", "message", "messages", "holds"),
    [
        ("yes", None, ["a"], True),
        ("yes", None, [], False),
        ("no", None, [], True),
        ("no", "b", ["a"], True),
        (2, None, ["a", "b"], True),
        (1, None, ["a", "b"], False),
        (1, "container", ["initContainer x", "container y"], True),  # case-sensitive
        (1, "^ini", ["initContainer x", "container y"], True),  # unanchored unless asked
    ],
)
def test_assertion_counts_matching_messages(
    want: str | int, message: str | None, messages: list[str], holds: bool
) -> None:
    assert (Assertion(want, message).check(messages) is None) is holds


@pytest.mark.parametrize("rego", ["opa", "regorus", "regopy"])
def test_suite_cases_pass_and_fail_with_reasons(tmp_path: Path, rego: str) -> None:
    inv = {"inventory": ["ns.yaml"]}
    suite = write_suite(
        tmp_path,
        [
            {
                "name": "none",
                "object": "none.yaml",
                **inv,
                "assertions": [{"violations": 2}, {"message": "owner", "violations": 1}],
            },
            {
                "name": "app",
                "object": "app.yaml",
                **inv,
                "assertions": [
                    {"violations": 1, "message": "owner"},
                    {"violations": "no", "message": "app"},
                ],
            },
            {"name": "both", "object": "both.yaml", **inv, "assertions": [{"violations": "no"}]},
            {
                "name": "review",
                "object": "review.yaml",
                **inv,
                "assertions": [{"violations": 1, "message": "^op UPDATE by alice$"}],
            },
            {
                "name": "frozen",
                "object": "both.yaml",
                "inventory": ["frozen.yaml"],
                "assertions": [{"violations": 1, "message": "frozen"}],
            },
            {"name": "wrong", "object": "app.yaml", **inv, "assertions": [{"violations": "no"}]},
            {
                "name": "skipped",
                "object": "app.yaml",
                "skip": True,
                "assertions": [{"violations": "no"}],
            },
        ],
    )
    code, out = verify(str(suite), "--rego-engine", rego)
    assert code == 1, out
    lines = out.splitlines()
    assert lines[:5] == [
        "ok   labels/t/none",
        "ok   labels/t/app",
        "ok   labels/t/both",
        "ok   labels/t/review",
        "ok   labels/t/frozen",
    ]
    assert lines[5:9] == [
        "FAIL labels/t/wrong",
        "     got 1 violation(s), want no",
        "     | Missing label owner",
        "skip labels/t/skipped",
    ]
    assert lines[-1] == "5 passed, 1 failed, 1 skipped"


def test_unknown_namespace_autorejects_without_inventory(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        [
            {
                "name": "c",
                "object": "both.yaml",
                "assertions": [{"violations": 1, "message": "not known"}],
            }
        ],
    )
    code, out = verify(str(suite))
    assert code == 0, out


def test_run_filters_cases_and_folders_are_searched(tmp_path: Path) -> None:
    write_suite(
        tmp_path,
        [
            {
                "name": "a",
                "object": "both.yaml",
                "inventory": ["ns.yaml"],
                "assertions": [{"violations": "no"}],
            },
            {
                "name": "b",
                "object": "none.yaml",
                "inventory": ["ns.yaml"],
                "assertions": [{"violations": "no"}],
            },
        ],
    )
    code, out = verify(str(tmp_path), "--run", "t/a$")
    assert code == 0, out
    assert out.splitlines() == ["ok   labels/t/a", "engines: opa", "1 passed, 0 failed, 0 skipped"]


@pytest.mark.parametrize(
    ("case", "error"),
    [
        (
            {"name": "c", "object": "/etc/passwd", "assertions": [{}]},
            "tests[0].cases[0].object: absolute paths are not allowed",
        ),
        (
            {"name": "c", "object": "none.yaml", "assertions": []},
            "a case needs at least one assertion",
        ),
        (
            {"name": "c", "object": "none.yaml", "assertions": [{"violations": "maybe"}]},
            "'maybe' is not yes, no or a count",
        ),
        (
            {"name": "c", "object": "none.yaml", "assertions": [{"message": "("}]},
            "not a regular expression",
        ),
        ({"name": "c", "object": "missing.yaml", "assertions": [{}]}, "missing.yaml: cannot read"),
    ],
)
def test_bad_suites_are_input_errors(tmp_path: Path, case: dict, error: str) -> None:
    suite = write_suite(tmp_path, [case])
    code, out = verify(str(suite))
    assert code == 2
    assert error in out


def test_a_file_with_two_objects_is_refused(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, [{"name": "c", "object": "two.yaml", "assertions": [{}]}])
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(pod({})) + "---\n" + yaml.safe_dump(pod({})))
    code, out = verify(str(suite))
    assert code == 2
    assert "exactly one object expected, found 2" in out


def test_not_a_suite(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("kind: Pod\n")
    code, out = verify(str(tmp_path / "x.yaml"))
    assert code == 2
    assert "not a test.gatekeeper.sh/v1alpha1 Suite" in out


def test_a_template_the_engine_refuses_is_reported_and_exits_2(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        [
            {
                "name": "a",
                "object": "both.yaml",
                "inventory": ["ns.yaml"],
                "assertions": [{"violations": "no"}],
            }
        ],
    )
    tpl = yaml.safe_load((tmp_path / "template.yaml").read_text())
    # regopy cannot evaluate a call whose argument holds the wildcard _.
    tpl["spec"]["targets"][0]["rego"] = (
        'package k8slabels\n\nviolation[{"msg": "x"}] { startswith("a", input.parameters.labels[_]) }\n'
    )
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(tpl))
    code, out = verify(str(suite), "--rego-engine", "regopy")
    assert code == 2, out
    lines = out.splitlines()
    assert lines[0] == "REFUSED labels/t/a"
    assert lines[1] == (
        "     template K8sLabels: engine regopy: template.rego:3: "
        "regopy cannot evaluate a call whose argument holds the wildcard _"
    )
    assert lines[-3:] == [
        "engines: regopy",
        "0 passed, 0 failed, 0 skipped, 1 refused",
        "policygen: the engine refused some templates (see REFUSED)",
    ]
    code, out = verify(str(suite), "--rego-engine", "opa")
    assert (code, out.splitlines()[-2:]) == (0, ["engines: opa", "1 passed, 0 failed, 0 skipped"])


def test_native_validation_can_be_disabled(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        [
            {
                "name": "a",
                "object": "both.yaml",
                "inventory": ["ns.yaml"],
                "assertions": [{"message": "cel says"}],
            }
        ],
    )
    tpl = yaml.safe_load((tmp_path / "template.yaml").read_text())
    target = tpl["spec"]["targets"][0]
    target["code"] = [
        {
            "engine": "K8sNativeValidation",
            "source": {"validations": [{"expression": "false", "message": "cel says no"}]},
        },
        {"engine": "Rego", "source": {"rego": target.pop("rego")}},
    ]
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(tpl))
    code, out = verify(str(suite))
    assert (code, out.splitlines()[-2:]) == (0, ["engines: cel", "1 passed, 0 failed, 0 skipped"])
    code, out = verify(str(suite), "--disable-k8s-native-validation")
    assert code == 1, out
    assert out.splitlines()[-2] == "engines: opa"
