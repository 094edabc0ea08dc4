"""Which message a failed CEL validation gives, engine by engine.

The API server's validator (apiserver ``policy/validating/validator.go``)
chooses it for a ValidatingAdmissionPolicy and, through the same code, for
Gatekeeper's k8scel driver: one rule, ``vap.validation_message``. Kyverno's
ValidatingPolicy has its own (``vpol/compiler/policy.go``), so kyverno-cel
is checked against that one."""

from __future__ import annotations

from typing import Any

import pytest

from policygen import config, model
from policygen.agreement import disagreements
from policygen.engines import EvalContext, Review, create
from policygen.engines._gatekeeper_cel import CelTemplate
from policygen.engines.gatekeeper import GatekeeperEngine
from policygen.engines.vap import PolicySet
from policygen.violations import Violation
from tests.conftest import NOW
from tests.engines.test_gatekeeper import pod
from tests.engines.test_kyverno_cel import PODS, _responses, _vpol

LONGEST = "a" * 5 * 1024  # validator.go: MaxEvaluatedMessageExpressionSizeBytes
WIDE = "é" * 2561  # 2,561 characters, 5,122 UTF-8 bytes: over, by bytes
INDEXED = "CEL expression validation failed at index 0"
NOT_STRING = "failed to convert message expression to string: "

# (the validation's message fields; what the API server's validator says,
# for an expression " false "; what Kyverno says)
CASES: list[tuple[dict[str, str], str, str]] = [
    ({"messageExpression": "''"}, "failed expression: false", INDEXED),
    ({"messageExpression": "'  '", "message": " fixed "}, "fixed", "  "),
    ({"messageExpression": "'two\\nlines'", "message": "fixed"}, "fixed", "two\nlines"),
    ({"messageExpression": "'two\\nlines'"}, "failed expression: false", "two\nlines"),
    # trimmed first, so a line break at either end is no line break
    ({"messageExpression": "' padded\\n '"}, "padded", " padded\n "),
    # only \n is refused; Go's TrimSpace trims NBSP but keeps U+001F
    ({"messageExpression": "'a\\rb'"}, "a\rb", "a\rb"),
    ({"messageExpression": "'\\u00a0x\\u001f'"}, "x\x1f", "\xa0x\x1f"),
    (
        {"messageExpression": "1", "message": "fixed"},
        "fixed",
        NOT_STRING + "unsupported type conversion from 'int' to string",
    ),
    (
        {"messageExpression": "null"},
        "failed expression: false",
        NOT_STRING + "type conversion error from 'null_type' to 'string'",
    ),
    (
        {"messageExpression": "[1]", "message": "fixed"},
        "fixed",
        NOT_STRING + "type conversion error from list to 'string'",
    ),
    ({"messageExpression": f"'{LONGEST}'"}, LONGEST, LONGEST),
    ({"messageExpression": f"'{LONGEST}b'", "message": "fixed"}, "fixed", LONGEST + "b"),
    ({"messageExpression": f"'{WIDE}'"}, "failed expression: false", WIDE),
    ({"message": " fixed "}, "fixed", " fixed "),
    ({"message": "   "}, "failed expression: false", "   "),
    ({}, "failed expression: false", INDEXED),
]
IDS = [f"case{i}" for i in range(len(CASES))]

OBJ = pod("ns", {"name": "a", "image": "nginx"})


def vap_message(validation: dict[str, str]) -> list[str]:
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "p"},
        "spec": {"matchConstraints": PODS, "validations": [validation]},
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "b"},
        "spec": {"policyName": "p", "validationActions": ["Deny"]},
    }
    found = PolicySet.load([policy, binding]).review(OBJ, "ns", None, "CREATE", "")
    return [message for _, _, message in found]


def gatekeeper_message(validation: dict[str, str]) -> list[str]:
    template = CelTemplate("K8sX", {"validations": [validation]})
    return template.review({"operation": "CREATE", "object": OBJ, "namespace": "ns"}, None)


def kyverno_message(validation: dict[str, str]) -> Any:
    doc = _vpol({"matchConstraints": PODS, "validations": [validation]})
    return _responses(doc, OBJ)[0]


@pytest.mark.parametrize(("fields", "server", "kyverno"), CASES, ids=IDS)
def test_the_api_servers_validator_chooses_the_message_for_vap_and_gatekeeper(
    fields: dict[str, str], server: str, kyverno: str
) -> None:
    validation = {"expression": " false ", **fields}
    assert vap_message(validation) == [server]
    assert gatekeeper_message(validation) == [server]


@pytest.mark.parametrize(("fields", "server", "kyverno"), CASES, ids=IDS)
def test_kyverno_chooses_its_own_message(fields: dict[str, str], server: str, kyverno: str) -> None:
    assert kyverno_message({"expression": " false ", **fields}) == ("p", "fail", kyverno)


def test_a_message_expression_that_errs() -> None:
    """The server logs the error and falls back; Kyverno says it (the
    error's own text is the CEL runtime's)."""
    validation = {"expression": " false ", "messageExpression": "object.nope + 'x'"}
    assert vap_message({**validation, "message": "fixed"}) == ["fixed"]
    assert gatekeeper_message({**validation, "message": "fixed"}) == ["fixed"]
    assert vap_message(validation) == gatekeeper_message(validation) == ["failed expression: false"]
    _, status, message = kyverno_message({**validation, "message": "fixed"})
    assert (status, message.split(": ")[0]) == ("fail", "failed to evaluate message expression")
    assert "nope" in message


# --- a line break in what a message quotes ----------------------------------------

PINNED = "@sha256:" + "ab" * 32
IMAGE = f"harbor.corp.example/team-a/web{PINNED}\n"


@pytest.fixture
def clockless(example: config.Config) -> config.Config:
    """The example without its exemptions: Gatekeeper's templates are all CEL."""
    return example.model_copy(update={"spec": example.spec.model_copy(update={"exemptions": []})})


def line_broken() -> dict[str, Any]:
    return pod(
        "team-a",
        {"name": "web", "image": IMAGE, "imagePullPolicy": "Always"},
        {"name": "side", "image": IMAGE.strip(), "imagePullPolicy": "If\nNotPresent"},
    )


def messages(raw: bool) -> list[tuple[str, str]]:
    """The model's messages; with ``raw`` False, each line break as ``\\n``,
    as a CEL message must write it for the API server to keep it."""
    image = IMAGE if raw else IMAGE.replace("\n", "\\n")
    invalid = f'container "web" image "{image}" is not a valid image reference'
    policy = "If\nNotPresent" if raw else "If\\nNotPresent"
    return [
        ("digest", invalid),
        ("pullPolicy", f'container "side" must set imagePullPolicy: Always, not {policy}'),
        ("registries", invalid),
    ]


def evaluate(engine: Any, cfg: config.Config, obj: dict[str, Any]) -> list[Violation]:
    return engine.evaluate(cfg, [Review(obj, "team-a")], EvalContext(NOW, {}))[0]


@pytest.mark.parametrize(
    ("engine", "raw"),
    [("vap", False), ("gatekeeper-cel", False), ("kyverno-cel", True)],
)
def test_a_line_break_in_an_image_or_pull_policy_keeps_the_exact_message(
    clockless: config.Config, engine: str, raw: bool
) -> None:
    """vap and Gatekeeper's CEL write a quoted line break as ``\\n`` (else
    the server would say ``failed expression: …``); Kyverno passes its
    message on as it is, so kyverno-cel quotes it as the model does."""
    obj = line_broken()
    want = model.evaluate(clockless, obj, model.Context(now=NOW, namespaces={}))
    assert [(v.rule, v.message) for v in want] == messages(raw=True)
    runner = GatekeeperEngine("opa") if engine == "gatekeeper-cel" else create(engine)
    got = evaluate(runner, clockless, obj)
    assert [(v.rule, v.message) for v in got] == messages(raw)
    assert disagreements(want, got, per_rule=True) == []
