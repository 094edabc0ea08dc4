"""Rendered objects against the real API schemas (policygen/apicheck.py):
the structural-schema rules themselves, the real CRDs, Gatekeeper's
generated Constraint schema, kubernetes-validate for built-in kinds, and
every target × action × selectors rendering to objects a cluster accepts."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from policygen import apicheck, bundle
from policygen.apicheck import InvalidBundleObject, InvalidObject, ObjectTooLarge
from policygen.errors import EXIT_BUG, EXIT_INPUT
from policygen.targets import registry
from tests import scale
from tests.conftest import EXAMPLE, NOW
from tests.test_cli import run


def docs_of(files: dict[str, str]) -> list[dict[str, Any]]:
    return [d for text in files.values() for d in yaml.safe_load_all(text) if d]


def rendered(text: str, target: str) -> list[dict[str, Any]]:
    return docs_of(registry()[target].render(scale.load(text, NOW), NOW))


# --- every target, every action, selectors ------------------------------------

ACTIONS = ("deny", "warn", "audit", "mutate", "off")


@pytest.mark.parametrize("selectors", [False, True], ids=["globs", "selectors"])
@pytest.mark.parametrize(("target", "action"), [(t, a) for t in scale.ALL_TARGETS for a in ACTIONS])
def test_every_target_action_and_selector_renders_what_a_cluster_accepts(
    target: str, action: str, selectors: bool
) -> None:
    rule_action = {"mutate": "deny", "off": "off"}.get(action, action)
    text = scale.config_text(
        4,
        3,
        targets=(target,),
        digest=rule_action,
        pull_policy=action,
        # something must render when the others are off
        registries="warn" if action == "off" else rule_action,
        selectors=selectors,
        digest_namespaces=("t0001-*",) if selectors else (),
    )
    docs = rendered(text, target)
    templates = {
        d["spec"]["crd"]["spec"]["names"]["kind"]: d
        for d in docs
        if d["kind"] == "ConstraintTemplate"
    }
    assert docs
    for doc in docs:
        assert apicheck.object_errors(doc, templates) == [], apicheck.named(doc)
    if action == "off":
        assert {d["metadata"]["name"].rsplit("-", 1)[-1] for d in docs} >= {"registries"}
    if target == "kyverno":
        warns = [d["metadata"]["name"] for d in docs if d["spec"].get("emitWarning")]
        want = {
            "warn": [d["metadata"]["name"] for d in docs],
            "off": ["scale-restrict-image-registries"],
        }
        assert warns == want.get(action, [])


# --- the real CRDs ------------------------------------------------------------


@pytest.fixture(scope="module")
def example_docs() -> dict[str, list[dict[str, Any]]]:
    cfg = scale.load(EXAMPLE.read_text(), NOW)
    return {t: docs_of(registry()[t].render(cfg, NOW)) for t in scale.ALL_TARGETS}


def test_rule_level_emit_warning_is_an_unknown_field(example_docs: dict) -> None:
    """What the shipped policies used to carry: Kyverno's CRD has no
    validate.emitWarning, so strict field validation refuses it."""
    doc = copy.deepcopy(example_docs["kyverno"][0])
    doc["spec"]["rules"][0]["validate"]["emitWarning"] = True
    assert apicheck.object_errors(doc) == ["spec.rules.0.validate: unknown field(s) emitWarning"]
    doc = copy.deepcopy(example_docs["kyverno"][0])
    doc["spec"]["emitWarning"] = True
    assert apicheck.object_errors(doc) == []


def test_enums_required_and_lengths_of_the_kyverno_crd(example_docs: dict) -> None:
    doc = copy.deepcopy(example_docs["kyverno"][0])
    rule = doc["spec"]["rules"][0]
    doc["spec"]["rules"] += [copy.deepcopy(rule), copy.deepcopy(rule)]
    rule["validate"]["failureAction"] = "Warn"
    del doc["spec"]["rules"][1]["name"]
    doc["spec"]["rules"][2]["name"] = "r" * 64
    assert apicheck.object_errors(doc) == [
        "spec.rules.0.validate.failureAction: 'Warn' is not one of ['Audit', 'Enforce']",
        "spec.rules.1: 'name' is a required property",
        f"spec.rules.2.name: '{'r' * 64}' is too long",
    ]


def test_metadata_is_object_meta(example_docs: dict) -> None:
    doc = copy.deepcopy(example_docs["kyverno-cel"][0])
    doc["metadata"]["name"] = "Not_A_Name"
    doc["metadata"]["uid"] = "x"
    doc["metadata"]["labels"] = {"a/b/c": "ok", "tier": "not ok"}
    errors = apicheck.object_errors(doc)
    assert errors == [
        "metadata: unknown field(s) uid",
        f"metadata.name: 'Not_A_Name' does not match {apicheck.DNS1123_SUBDOMAIN.pattern!r}",
        "metadata.labels: key 'a/b/c' has an invalid prefix",
        "metadata.labels: value 'not ok' is not a label value",
    ]


def test_gatekeeper_crds(example_docs: dict) -> None:
    by_kind = {d["kind"]: d for d in example_docs["gatekeeper"]}
    expansion = copy.deepcopy(by_kind["ExpansionTemplate"])
    expansion["spec"]["templateSource"] = 7
    expansion["spec"]["generatedGVK"]["plural"] = "pods"
    assert apicheck.object_errors(expansion) == [
        "spec.generatedGVK: unknown field(s) plural",
        "spec.templateSource: 7 is not of type 'string'",
    ]


# --- Gatekeeper Constraints: the CRD their template generates -----------------


def test_constraint_parameters_against_the_template_schema(example_docs: dict) -> None:
    docs = example_docs["gatekeeper"]
    templates = {
        d["spec"]["crd"]["spec"]["names"]["kind"]: d
        for d in docs
        if d["kind"] == "ConstraintTemplate"
    }
    (constraint,) = [d for d in docs if d["kind"] == "AcmeImageRegistry"]
    assert apicheck.object_errors(constraint, templates) == []
    bad = copy.deepcopy(constraint)
    bad["spec"]["parameters"]["ownersByPrefix"]["team-a-"][0]["registryRegex"] = "^x$"
    del bad["spec"]["parameters"]["sharedRegex"]
    bad["spec"]["match"]["namespace"] = ["x"]
    bad["metadata"]["name"] = "c" * 64
    assert apicheck.object_errors(bad, templates) == [
        f"metadata.name: '{'c' * 64}' is too long",
        "spec.match: unknown field(s) namespace",
        "spec.parameters: 'sharedRegex' is a required property",
        "spec.parameters.ownersByPrefix.team-a-.0: unknown field(s) registryRegex",
    ]
    assert apicheck.object_errors(constraint, {}) == [
        "no ConstraintTemplate in the bundle defines kind AcmeImageRegistry"
    ]


def test_legacy_schema_templates_preserve_unknown_parameters() -> None:
    template = {
        "spec": {
            "crd": {
                "spec": {
                    "validation": {
                        "legacySchema": True,
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"a": {"type": "object", "properties": {}}},
                        },
                    }
                }
            }
        }
    }
    constraint = {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K",
        "metadata": {"name": "k"},
        "spec": {"parameters": {"a": {"x": 1}, "b": 2}},
    }
    assert apicheck.object_errors(constraint, {"K": template}) == []
    template["spec"]["crd"]["spec"]["validation"]["legacySchema"] = False
    assert apicheck.object_errors(constraint, {"K": template}) == [
        "spec.parameters: unknown field(s) b",
        "spec.parameters.a: unknown field(s) x",
    ]


# --- built-in kinds through kubernetes-validate -------------------------------


def test_builtin_kinds_strictly_at_the_oldest_and_newest_version(example_docs: dict) -> None:
    assert apicheck.KUBERNETES_VERSIONS == ("1.30", "1.37")
    policy = copy.deepcopy(example_docs["vap"][0])
    assert policy["kind"] == "ValidatingAdmissionPolicy"
    policy["spec"]["validations"][0]["warning"] = "x"
    assert apicheck.object_errors(policy) == [
        f"Kubernetes {v}: spec.validations.0: unknown field(s) warning"
        for v in apicheck.KUBERNETES_VERSIONS
    ]


def test_mutating_admission_policy_only_where_served() -> None:
    """MutatingAdmissionPolicy is v1 from Kubernetes 1.36: checked at the
    newest version only."""
    doc = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": "m"},
        "spec": {"failurePolicy": "Fail", "mutation": []},
    }
    assert apicheck.object_errors(doc) == ["Kubernetes 1.37: spec: unknown field(s) mutation"]


# --- the structural-schema rules ----------------------------------------------


def validate(schema: dict[str, Any], value: Any) -> list[str]:
    validator = apicheck._Validator(apicheck.to_jsonschema(schema))
    return sorted(apicheck._describe(e) for e in validator.iter_errors(value))


def test_objects_refuse_fields_they_do_not_name() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert validate(schema, {"a": "x", "b": 1}) == ["(root): unknown field(s) b"]
    # an object with no properties keeps nothing either
    assert validate({"type": "object"}, {"b": 1}) == ["(root): unknown field(s) b"]


def test_preserve_unknown_fields_and_maps() -> None:
    preserved = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {"a": {"type": "string"}},
    }
    assert validate(preserved, {"b": {"c": 1}}) == []
    assert validate(preserved, {"a": 1}) == ["a: 1 is not of type 'string'"]
    mapping = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert validate(mapping, {"x": 1, "y": "2"}) == ["y: '2' is not of type 'integer'"]


def test_int_or_string_nullable_and_embedded_resources() -> None:
    assert validate({"x-kubernetes-int-or-string": True}, 3) == []
    assert validate({"x-kubernetes-int-or-string": True}, "25%") == []
    assert validate({"x-kubernetes-int-or-string": True}, 2.5) == [
        "(root): 2.5 is not valid under any of the given schemas"
    ]
    assert validate({"type": "string"}, None) == ["(root): None is not of type 'string'"]
    assert validate({"type": "string", "nullable": True}, None) == []
    embedded = {
        "type": "object",
        "x-kubernetes-embedded-resource": True,
        "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
    }
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}
    assert validate(embedded, pod) == []
    assert validate(embedded, {**pod, "status": {}}) == ["(root): unknown field(s) status"]


def test_value_validations_do_not_decide_known_fields() -> None:
    """Fields under anyOf/oneOf are value checks only (structural schemas):
    a oneOf branch naming one field does not make the others unknown."""
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
    }
    assert validate(schema, {"a": "x"}) == []
    assert validate(schema, {"a": "x", "b": "y"}) != []


def test_patterns_enums_and_list_map_keys() -> None:
    schema = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z]+$"},
                "op": {"type": "string", "enum": ["In", "NotIn"]},
            },
        },
    }
    assert validate(schema, [{"name": "a", "op": "In"}, {"name": "b"}]) == []
    assert validate(schema, [{"name": "a"}, {"name": "a"}, {"name": "B", "op": "Is"}]) == [
        "(root): duplicate entry for list-map keys ['name']: [\"a\"]",
        "2.name: 'B' does not match '^[a-z]+$'",
        "2.op: 'Is' is not one of ['In', 'NotIn']",
    ]
    assert validate({"type": "array", "x-kubernetes-list-type": "set"}, [1, 1]) == [
        "(root): [1, 1] has non-unique elements"
    ]


# --- build and test refuse, and say why ----------------------------------------


def _broken(monkeypatch: pytest.MonkeyPatch, target: str, mutate: Any) -> None:
    real = registry()[target]

    class Broken:
        name = real.name
        description = real.description

        def __getattr__(self, attr: str) -> Any:  # the rest of the Target protocol
            return getattr(real, attr)

        def render(self, config: Any, now: Any) -> dict[str, str]:
            files = real.render(config, now)
            rel = sorted(files)[0]
            docs = list(yaml.safe_load_all(files[rel]))
            mutate(docs[0])
            files[rel] = yaml.safe_dump_all(docs)
            return files

    monkeypatch.setattr("policygen.targets.registry", lambda: {**registry(), target: Broken()})
    monkeypatch.setattr("policygen.bundle.registry", lambda: {**registry(), target: Broken()})


def test_build_refuses_an_invalid_object_as_a_bug_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _broken(monkeypatch, "kyverno", lambda d: d["spec"].update(bogus=True))
    out = tmp_path / "out"
    code, _, err = run("build", "-c", str(EXAMPLE), "-o", str(out), "--now", "2026-11-28")
    assert code == EXIT_BUG
    assert err == (
        "policygen: policygen rendered objects a Kubernetes API server would refuse "
        "(a bug in policygen, please report it):\n"
        "  kyverno/require-image-digest.yaml: ClusterPolicy/acme-require-image-digest: "
        "spec: unknown field(s) bogus\n"
    )
    assert not out.exists()


def test_test_refuses_an_invalid_object_too(monkeypatch: pytest.MonkeyPatch) -> None:
    _broken(monkeypatch, "vap", lambda d: d["spec"].update(bogus=True))
    code, _, err = run("test", "-c", str(EXAMPLE), "--now", "2026-11-28", "--show", "none")
    assert code == EXIT_BUG
    assert (
        "vap/digest.yaml: ValidatingAdmissionPolicy/acme-digest: Kubernetes 1.30: spec: "
        "unknown field(s) bogus\n"
    ) in err


def test_an_edited_bundle_is_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "policies"
    assert run("build", "-c", str(EXAMPLE), "-o", str(out), "--now", "2026-11-28")[0] == 0
    path = out / "kyverno" / "require-pull-always.yaml"
    path.write_text(
        path.read_text().replace("  background: true\n", "  background: true\n  x: 1\n")
    )
    with pytest.raises(InvalidBundleObject) as info:
        apicheck.check_documents(
            {str(path): list(yaml.safe_load_all(path.read_text()))}, rendered=False
        )
    assert info.value.exit_code == EXIT_INPUT
    assert str(info.value).endswith(
        f"{path}: ClusterPolicy/acme-require-pull-always: spec: unknown field(s) x"
    )


def test_objects_over_the_size_limit_are_refused_with_size_and_limit(
    example_docs: dict,
) -> None:
    doc = copy.deepcopy(example_docs["kyverno-cel"][0])
    doc["metadata"]["annotations"]["policygen.dev/padding"] = "x" * apicheck.SIZE_LIMIT
    size = apicheck.compact_size(doc)
    with pytest.raises(ObjectTooLarge) as info:
        apicheck.check_documents({"kyverno-cel/digest.yaml": [doc]})
    assert info.value.exit_code == EXIT_INPUT
    assert str(info.value) == (
        "the config renders objects too large for `kubectl apply` (the last-applied "
        "annotation holds at most 262,144 bytes):\n"
        f"  kyverno-cel/digest.yaml: ValidatingPolicy/acme-digest is {size:,} bytes of "
        "compact JSON, over the 204,800-byte limit"
    )


def test_render_bundle_checks_every_target(monkeypatch: pytest.MonkeyPatch) -> None:
    _broken(monkeypatch, "gatekeeper", lambda d: d["spec"].update(bogus=True))
    cfg = scale.load(EXAMPLE.read_text(), NOW)
    with pytest.raises(
        InvalidObject, match=r"gatekeeper/constraint-digest\.yaml: AcmeImageDigest/"
    ):
        bundle.render_bundle(cfg, EXAMPLE, NOW)


def test_cel_expressions_over_the_parser_limit_are_refused(example_docs: dict) -> None:
    doc = copy.deepcopy(example_docs["vap"][0])
    doc["spec"]["variables"][0]["expression"] = "true || " * 12_500 + "true"
    with pytest.raises(ObjectTooLarge) as info:
        apicheck.check_documents({"vap/digest.yaml": [doc]})
    assert str(info.value).endswith(
        "vap/digest.yaml: ValidatingAdmissionPolicy/acme-digest: spec.variables[0].expression "
        "is 100,004 code points, over CEL's 100,000 (cel-go's parser refuses it)"
    )


@pytest.mark.parametrize(
    "crd",
    sorted(p.relative_to(apicheck.CRD_DIR).as_posix() for p in apicheck.CRD_DIR.rglob("*.yaml")),
)
def test_every_shipped_crd_reads_as_libyaml_reads_it(crd: str) -> None:
    """The CRDs are read with yaml-rs for speed: the same values libyaml
    gives (YAML 1.1 and 1.2 differ on scalars such as ``yes``)."""
    path = apicheck.CRD_DIR / crd
    assert apicheck._load_yaml(path) == yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
