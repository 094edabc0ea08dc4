"""spec.versions: API versions and kinds chosen by release, refused where they
do not exist, warned where deprecated (policygen/versions.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from policygen import apicheck, bundle, config, versions
from policygen.errors import ConfigError
from policygen.targets import registry
from tests.conftest import NOW

BASE = """\
apiVersion: policygen.dev/v1alpha1
kind: ImagePolicyConfig
metadata:
  name: acme
spec:
  targets: [{targets}]
  versions: {{{versions}}}
  rules:
    registries:
      allowed: [registry.k8s.io/pause]
"""


def load(targets: str, versions_text: str) -> config.Config:
    return config.parse(BASE.format(targets=targets, versions=versions_text), "p.yaml", today=NOW)


def errors(targets: str, versions_text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(targets, versions_text)
    return [str(p) for p in info.value.problems]


def api_versions(cfg: config.Config, target: str) -> set[tuple[str, str]]:
    files = registry()[target].render(cfg, NOW)
    return {
        (d["apiVersion"], d["kind"])
        for text in files.values()
        for d in yaml.safe_load_all(text)
        if isinstance(d, dict)
    }


@pytest.mark.parametrize(
    ("kubernetes", "api"),
    [
        ("1.28", "admissionregistration.k8s.io/v1beta1"),
        ("1.29", "admissionregistration.k8s.io/v1beta1"),
        ("1.30", "admissionregistration.k8s.io/v1"),
        ("1.37", "admissionregistration.k8s.io/v1"),
    ],
)
def test_vap_version_follows_kubernetes(kubernetes: str, api: str) -> None:
    cfg = load("vap", f'kubernetes: "{kubernetes}"')
    assert api_versions(cfg, "vap") == {
        (api, "ValidatingAdmissionPolicy"),
        (api, "ValidatingAdmissionPolicyBinding"),
    }


@pytest.mark.parametrize(
    ("kyverno", "api"),
    [
        ("1.14", "policies.kyverno.io/v1alpha1"),
        ("1.15", "policies.kyverno.io/v1alpha1"),
        ("1.16", "policies.kyverno.io/v1beta1"),
        ("1.17", "policies.kyverno.io/v1"),
        ("1.19", "policies.kyverno.io/v1"),
    ],
)
def test_validating_policy_version_follows_kyverno(kyverno: str, api: str) -> None:
    cfg = load("kyverno-cel", f'kyverno: "{kyverno}"')
    assert api_versions(cfg, "kyverno-cel") == {(api, "ValidatingPolicy")}


def test_without_versions_the_newest_are_rendered() -> None:
    cfg = config.parse(
        BASE.format(targets="vap, kyverno-cel", versions="").replace("  versions: {}\n", ""),
        "p.yaml",
        today=NOW,
    )
    assert versions.of(cfg, "kubernetes") == (1, 37)
    assert ("policies.kyverno.io/v1", "ValidatingPolicy") in api_versions(cfg, "kyverno-cel")


def test_unsupported_versions_are_refused_at_their_line() -> None:
    assert errors("vap", 'kubernetes: "1.27"') == [
        "p.yaml:7:14: spec.versions.kubernetes: kubernetes 1.27 is not supported: "
        "policygen renders for 1.28 to 1.37"
    ]
    assert errors("gatekeeper", 'gatekeeper: "3.99"')[0].endswith(
        "spec.versions.gatekeeper: gatekeeper 3.99 is not supported: "
        "policygen renders for 3.14 to 3.23"
    )


def test_an_unquoted_version_is_refused_not_read_as_a_number() -> None:
    (problem,) = errors("vap", "kubernetes: 1.30")
    assert "spec.versions.kubernetes: write the version as a string ('1.3' in quotes)" in problem


def test_a_malformed_version_is_refused() -> None:
    (problem,) = errors("vap", 'kubernetes: "one"')
    assert problem.endswith("spec.versions.kubernetes: 'one' is not a MAJOR.MINOR version")


def test_a_kind_that_does_not_exist_yet_is_refused() -> None:
    # Every supported Kyverno serves ValidatingPolicy; MutatingPolicy (for
    # mutate) only from 1.15, MutatingAdmissionPolicy from Kubernetes 1.34.
    cfg = load("kyverno-cel", 'kyverno: "1.14"')
    mutating = cfg.model_copy(
        update={
            "spec": cfg.spec.model_copy(
                update={"rules": config.Rules(pullPolicy=config.PullPolicyRule(action="mutate"))}
            )
        }
    )
    assert versions.problems(mutating) == [
        (
            ("spec", "versions", "kyverno"),
            "target kyverno-cel needs MutatingPolicy (for pullPolicy: mutate), which kyverno "
            "1.14 does not serve (from 1.15)",
        )
    ]
    assert versions.served(load("vap", 'kubernetes: "1.33"'), "MutatingAdmissionPolicy") is None
    assert (
        versions.api_version(load("vap", 'kubernetes: "1.34"'), "MutatingAdmissionPolicy")
        == "admissionregistration.k8s.io/v1beta1"
    )
    assert (
        versions.api_version(load("vap", 'kubernetes: "1.36"'), "MutatingAdmissionPolicy")
        == "admissionregistration.k8s.io/v1"
    )


def write_config(tmp_path: Path, targets: str, versions_text: str) -> Path:
    path = tmp_path / "policygen.yaml"
    path.write_text(BASE.format(targets=targets, versions=versions_text))
    return path


def test_build_warns_of_a_deprecated_cluster_policy(tmp_path: Path) -> None:
    path = write_config(tmp_path, "kyverno", 'kyverno: "1.19"')
    rendered = bundle.render_bundle(config.load(path, today=NOW), path, NOW)
    assert rendered.warnings == (
        "kyverno.io/v1 ClusterPolicy on kyverno 1.19: deprecated since Kyverno 1.19 "
        "(kyverno/kyverno#16868) in favour of ValidatingPolicy and MutatingPolicy: "
        "prefer target kyverno-cel",
    )
    older = write_config(tmp_path, "kyverno", 'kyverno: "1.18"')
    assert bundle.render_bundle(config.load(older, today=NOW), older, NOW).warnings == ()


def test_build_warns_of_a_beta_api_off_by_default(tmp_path: Path) -> None:
    path = write_config(tmp_path, "vap", 'kubernetes: "1.29"')
    warnings = bundle.render_bundle(config.load(path, today=NOW), path, NOW).warnings
    assert warnings == tuple(
        f"admissionregistration.k8s.io/v1beta1 {kind} on kubernetes 1.29: a beta API, off by "
        "default: the API server needs --runtime-config=admissionregistration.k8s.io/v1beta1=true "
        "and the feature gate ValidatingAdmissionPolicy"
        for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    )


def test_apicheck_checks_at_the_bundles_kubernetes_version() -> None:
    cfg = load("vap", 'kubernetes: "1.28"')
    doc = next(
        d
        for text in registry()["vap"].render(cfg, NOW).values()
        for d in yaml.safe_load_all(text)
        if d["kind"] == "ValidatingAdmissionPolicy"
    )
    assert apicheck.object_errors(doc, kubernetes="1.28") == []
    # v1beta1 is no longer served from 1.34 (kubernetes-validate's schemas).
    assert apicheck.object_errors(doc, kubernetes="1.34") == [
        "Kubernetes 1.34 does not serve admissionregistration.k8s.io/v1beta1 "
        "ValidatingAdmissionPolicy"
    ]
    broken = {**doc, "spec": {**doc["spec"], "mutations": []}}
    assert apicheck.object_errors(broken, kubernetes="1.28") == [
        "Kubernetes 1.28: spec: unknown field(s) mutations"
    ]


SELECTED_TENANT = """\
  tenants:
    - name: green
      namespaceSelector: {matchLabels: {tenant: green}}
      registries: [harbor.example/green]
"""


def cel_entries(cfg: config.Config) -> dict[str, bool]:
    """Per template file, whether it carries a K8sNativeValidation entry
    (beside its Rego, which every template keeps)."""
    out = {}
    for path, text in registry()["gatekeeper"].render(cfg, NOW).items():
        if path.startswith("template-"):
            (target,) = yaml.safe_load(text)["spec"]["targets"]
            assert target["rego"]
            out[path] = any(c["engine"] == "K8sNativeValidation" for c in target.get("code", []))
    return out


def test_gatekeeper_templates_carry_cel_from_318() -> None:
    assert set(cel_entries(load("gatekeeper", 'gatekeeper: "3.17"')).values()) == {False}
    assert set(cel_entries(load("gatekeeper", 'gatekeeper: "3.18"')).values()) == {True}


def test_before_322_cel_cannot_read_tenant_labels(tmp_path: Path) -> None:
    path = tmp_path / "policygen.yaml"
    path.write_text(
        BASE.format(targets="gatekeeper", versions='gatekeeper: "3.21"') + SELECTED_TENANT
    )
    cfg = config.load(path, today=NOW)
    assert cel_entries(cfg) == {
        "template-digest.yaml": True,
        "template-pullpolicy.yaml": True,
        "template-registries.yaml": False,
    }
    assert bundle.render_bundle(cfg, path, NOW).warnings == (
        "gatekeeper 3.21: the registries template has Rego only, so Gatekeeper generates no "
        "ValidatingAdmissionPolicy from it: Gatekeeper's CEL sees namespaceObject from 3.22, "
        "and tenant green is chosen by labels",
    )
    path.write_text(
        BASE.format(targets="gatekeeper", versions='gatekeeper: "3.22"') + SELECTED_TENANT
    )
    assert set(cel_entries(config.load(path, today=NOW)).values()) == {True}


MUTATE = BASE.replace("  rules:\n", "  rules:\n    pullPolicy: {{action: mutate}}\n")


@pytest.mark.parametrize(
    ("target", "versions_text", "kind", "api"),
    [
        (
            "vap",
            'kubernetes: "1.34"',
            "MutatingAdmissionPolicy",
            "admissionregistration.k8s.io/v1beta1",
        ),
        ("vap", 'kubernetes: "1.36"', "MutatingAdmissionPolicy", "admissionregistration.k8s.io/v1"),
        ("kyverno-cel", 'kyverno: "1.15"', "MutatingPolicy", "policies.kyverno.io/v1alpha1"),
        # 1.16's v1beta1 CRD has {expression, target} mutations (a bug there)
        ("kyverno-cel", 'kyverno: "1.16"', "MutatingPolicy", "policies.kyverno.io/v1alpha1"),
        ("kyverno-cel", 'kyverno: "1.17"', "MutatingPolicy", "policies.kyverno.io/v1"),
    ],
)
def test_mutation_kinds_follow_the_versions(
    target: str, versions_text: str, kind: str, api: str
) -> None:
    cfg = config.parse(MUTATE.format(targets=target, versions=versions_text), "p.yaml", today=NOW)
    assert (api, kind) in api_versions(cfg, target)


def test_mutation_where_the_kind_does_not_exist_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(
            MUTATE.format(targets="vap", versions='kubernetes: "1.33"'), "p.yaml", today=NOW
        )
    assert [p.message for p in info.value.problems] == [
        "target vap needs MutatingAdmissionPolicy (for pullPolicy: mutate), which kubernetes "
        "1.33 does not serve (from 1.34)"
    ]


EXEMPTION = """\
  exemptions:
    - name: legacy
      rules: [digest]
      namespaces: [monitoring]
      images: ["docker.io/vendor/agent:*"]
      reason: pins by tag
      owner: sre@example.com
      expires: 2027-06-30
"""


def exempting(tmp_path: Path, targets: str, versions_text: str) -> tuple[config.Config, Path]:
    path = tmp_path / "policygen.yaml"
    path.write_text(BASE.format(targets=targets, versions=versions_text) + EXEMPTION)
    return config.load(path, today=NOW), path


def test_a_rule_with_exemptions_has_no_gatekeeper_cel(tmp_path: Path) -> None:
    """Gatekeeper runs a template's CEL instead of its Rego, and the CEL
    cannot tell the time: its exemption would never lapse."""
    cfg, path = exempting(tmp_path, "gatekeeper", 'gatekeeper: "3.23"')
    assert cel_entries(cfg) == {
        "template-digest.yaml": False,
        "template-pullpolicy.yaml": True,
        "template-registries.yaml": True,
    }
    assert bundle.render_bundle(cfg, path, NOW).warnings == (
        "gatekeeper 3.23: the digest template has Rego only, so Gatekeeper generates no "
        "ValidatingAdmissionPolicy from it: Gatekeeper's CEL has no clock to let exemption "
        "legacy lapse on its expires date, as the Rego does",
    )


AGENT = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "monitoring"},
    "spec": {
        "containers": [
            {"name": "a", "image": "docker.io/vendor/agent:1", "imagePullPolicy": "Always"}
        ]
    },
}


def kyverno_cel_digest(cfg: config.Config, now: dt.datetime) -> tuple[list[str], list[str]]:
    """The digest messages of the kyverno-cel evaluator and the model for
    the exempt agent at ``now``."""
    from policygen import model
    from policygen.engines import EvalContext, Review
    from policygen.engines.kyverno_cel import KyvernoCelEngine

    found = KyvernoCelEngine().evaluate(cfg, [Review(AGENT, "monitoring")], EvalContext(now, {}))
    want = model.evaluate(cfg, AGENT, model.Context(now=now, namespaces={}))
    return (
        [v.message for v in found[0] if v.rule == "digest"],
        [v.message for v in want if v.rule == "digest"],
    )


DENIED = [
    'container "a" image "docker.io/vendor/agent:1" must be pinned by digest (@sha256:<64 hex>)'
]
BEFORE = dt.datetime(2027, 6, 30, 23, 59, 59, tzinfo=dt.UTC)
AFTER = dt.datetime(2027, 7, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("kyverno", "expires_at"), [("1.17", False), ("1.18", False), ("1.19", True)]
)
def test_kyverno_cel_exemptions_are_policy_exceptions_from_117(
    tmp_path: Path, kyverno: str, expires_at: bool
) -> None:
    """time.now() in a PolicyException's matchConditions from 1.17 lapses it;
    its CRD has expiresAt and properties from 1.19 only (strict apply
    refuses them before)."""
    cfg, path = exempting(tmp_path, "kyverno-cel", f'kyverno: "{kyverno}"')
    files = registry()["kyverno-cel"].render(cfg, NOW)
    (exception,) = yaml.safe_load_all(files["exceptions.yaml"])
    assert exception["apiVersion"] == "policies.kyverno.io/v1"
    assert ("expiresAt" in exception["spec"]) is expires_at
    # spec.properties is in the CRD from 1.19 too: annotations before
    assert ("properties" in exception["spec"]) is expires_at
    owner = exception["metadata"]["annotations"].get("policygen.dev/owner")
    assert owner == (None if expires_at else "sre@example.com")
    assert [c["name"] for c in exception["spec"]["matchConditions"]] == [
        "namespaces",
        "not-expired",
    ]
    assert bundle.render_bundle(cfg, path, NOW).warnings == ()
    assert kyverno_cel_digest(cfg, BEFORE) == ([], [])
    assert kyverno_cel_digest(cfg, AFTER) == (DENIED, DENIED)


def test_before_117_kyverno_cel_exemptions_are_in_the_policy_and_do_not_lapse(
    tmp_path: Path,
) -> None:
    from policygen.targets import clock

    cfg, path = exempting(tmp_path, "kyverno-cel", 'kyverno: "1.16"')
    files = registry()["kyverno-cel"].render(cfg, NOW)
    assert "exceptions.yaml" not in files
    assert "variables.exemptions" in files["digest.yaml"]
    assert clock("kyverno-cel", cfg) is None
    assert clock("kyverno-cel", exempting(tmp_path, "kyverno-cel", 'kyverno: "1.17"')[0])
    assert bundle.render_bundle(cfg, path, NOW).warnings == (
        "kyverno 1.16: kyverno-cel writes the exemptions into its policies, where they hold "
        "until the bundle is rebuilt without them: Kyverno's CEL has time.now() for a "
        "PolicyException to lapse by from 1.17",
    )
    assert kyverno_cel_digest(cfg, BEFORE) == ([], [])
    # no clock in the cluster: the exemption holds where the model has it lapse
    assert kyverno_cel_digest(cfg, AFTER) == ([], DENIED)


@pytest.mark.parametrize(("gatekeeper", "namespaces"), [("3.15", None), ("3.16", ["*"])])
def test_a_bare_wildcard_namespace_is_left_out_where_gatekeeper_refuses_it(
    gatekeeper: str, namespaces: list[str] | None
) -> None:
    """Before 3.16 Gatekeeper's match schema wants a letter or digit in each
    namespace glob; no namespaces means every one, as ``*`` does."""
    text = MUTATE.format(targets="gatekeeper", versions=f'gatekeeper: "{gatekeeper}"')
    files = registry()["gatekeeper"].render(config.parse(text, "p.yaml", today=NOW), NOW)
    matches = [
        d["spec"]["match"]
        for path in ("constraint-digest.yaml", "assign-pullpolicy.yaml")
        for d in yaml.safe_load_all(files[path])
        if isinstance(d, dict)
    ]
    assert len(matches) == 3
    assert all(m.get("namespaces") == namespaces for m in matches)
