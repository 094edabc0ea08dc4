from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from policygen import config
from policygen.errors import ConfigError
from tests.conftest import EXAMPLE, NOW

BASE = """\
apiVersion: policygen.dev/v1alpha1
kind: ImagePolicyConfig
metadata:
  name: acme
spec:
  targets: [kyverno, gatekeeper]
  rules:
    registries:
      allowed: [registry.k8s.io/pause]
  tenants:
    - name: team-a
      namespaces: [team-a, team-a-*]
      registries: [harbor.corp.example/team-a]
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.parse(text, "p.yaml", today=NOW)
    return [str(p) for p in info.value.problems]


def test_example_is_valid(example: config.Config) -> None:
    assert example.name == "acme"
    assert [t.name for t in example.spec.tenants] == ["team-a", "team-b", "payments"]


def test_unknown_field_has_its_line() -> None:
    assert errors(BASE.replace("  targets:", "  colour: blue\n  targets:")) == [
        "p.yaml:6:3: spec.colour: unknown field"
    ]


def test_duplicate_key() -> None:
    assert errors(BASE + "  tenants: []\n") == ["p.yaml:14:3: spec.tenants: duplicate key"]


def test_bad_action_and_missing_field() -> None:
    text = BASE.replace("    registries:\n", "    digest: {action: block}\n    registries:\n")
    text = text.replace("      registries: [harbor.corp.example/team-a]\n", "")
    assert errors(text) == [
        "p.yaml:8:14: spec.rules.digest.action: Input should be 'deny', 'warn', 'audit' or 'off'",
        "p.yaml:12:7: spec.tenants[0].registries: required field is missing",
    ]


def test_glob_gatekeeper_cannot_express() -> None:
    """Gatekeeper's match holds '*' only at the ends; its Rego holds any
    glob, as a regex (a tenant's, say)."""
    text = BASE.replace("  rules:\n", '  scope:\n    namespaces: ["team-*-prod"]\n  rules:\n')
    assert errors(text) == [
        "p.yaml:8:18: spec.scope.namespaces[0]: glob 'team-*-prod' cannot be expressed by "
        "target gatekeeper: use '*' only as prefix or suffix"
    ]
    # Kyverno alone can express it.
    config.parse(text.replace("[kyverno, gatekeeper]", "[kyverno]"), "p.yaml", today=NOW)
    config.parse(BASE.replace("[team-a, team-a-*]", "[team-a, team-a-*-prod]"), "p.yaml", today=NOW)


def test_namespace_claimed_by_two_tenants() -> None:
    text = BASE + (
        "    - name: team-b\n"
        "      namespaces: [team-a-x*]\n"
        "      registries: [harbor.corp.example/team-b]\n"
    )
    assert errors(text) == [
        "p.yaml:15:20: spec.tenants[1].namespaces[0]: namespace glob 'team-a-x*' overlaps "
        "'team-a-*' of tenant 'team-a': a namespace must belong to one tenant"
    ]


def test_shared_entry_covering_tenant_registry() -> None:
    text = BASE.replace("[registry.k8s.io/pause]", "[harbor.corp.example]")
    assert errors(text) == [
        "p.yaml:13:20: spec.tenants[0].registries[0]: shared registry entry 'harbor.corp.example' "
        "(spec.rules.registries.allowed[0]) covers this tenant registry, so every namespace could "
        "use it and tenant isolation would be void"
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "https://harbor.corp.example/x",
            "registry entries take no scheme (write host[:port]/path)",
        ),
        (
            "Harbor.corp.example/x",
            "registry entries must be lowercase (image hosts are matched case-sensitively)",
        ),
        (
            "harbor.corp.example/x/",
            "registry entries take no trailing slash (matching is on path-segment boundaries)",
        ),
        ("harbor.corp.example//x", "registry entries must not have empty path segments"),
        (
            "harbor.corp.example/x:1.0",
            "registry entries name a repository prefix, not a tag or digest",
        ),
        ("harbor.corp.example/*", "registry entries are prefixes, not globs"),
        (
            "nginx",
            "'nginx' is not a registry host (it has no dot or port); Docker Hub repositories are written docker.io/nginx",
        ),
        ("index.docker.io/library", "write docker.io, the normalised form of index.docker.io"),
    ],
)
def test_malformed_registry_entries(entry: str, message: str) -> None:
    text = BASE.replace("[registry.k8s.io/pause]", f"['{entry}']")
    assert errors(text) == [f"p.yaml:9:17: spec.rules.registries.allowed[0]: {message}"]


EXEMPTION = """\
  exemptions:
    - name: old
      namespaces: [logging]
      reason: r
      owner: o@x
"""


def test_exemption_expires_required_and_future() -> None:
    assert errors(BASE + EXEMPTION) == [
        "p.yaml:15:7: spec.exemptions[0].expires: required field is missing"
    ]
    assert errors(BASE + EXEMPTION + "      expires: 2026-11-27\n") == [
        "p.yaml:19:7: spec.exemptions[0].expires: exemption expired on 2026-11-27 "
        "(today is 2026-11-28); renew it or remove it"
    ]
    config.parse(BASE + EXEMPTION + "      expires: 2026-11-28\n", "p.yaml", today=NOW)


def test_every_problem_is_reported_sorted() -> None:
    text = BASE.replace("name: acme", "name: Acme").replace(
        "  targets: [kyverno, gatekeeper]", "  targets: [istio]"
    )
    assert errors(text) == [
        "p.yaml:4:3: metadata.name: String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
        "p.yaml:6:13: spec.targets[0]: Input should be 'kyverno', 'kyverno-cel', 'gatekeeper' or 'vap'",
    ]


def test_invalid_yaml() -> None:
    assert errors("a: [b\n") == ["p.yaml:2:1: invalid YAML: did not find expected ',' or ']'"]


def test_schema_is_published() -> None:
    schema = config.json_schema()
    assert schema["title"] == "policygen ImagePolicyConfig"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "spec"}


def test_yaml_1_1_words_are_strings_not_booleans() -> None:
    """`action: off` unquoted is the word off (YAML 1.2), not false."""
    text = EXAMPLE.read_text().replace("pullPolicy:\n", "pullPolicy:\n      action: off\n", 1)
    text = text.replace("      action: deny\n    registries", "    registries", 1)
    cfg = config.parse(text, "c.yaml", today=NOW)
    assert cfg.spec.rules.pullPolicy.action == "off"


def test_tenant_names_fit_kyverno_rule_names() -> None:
    """Only tenants chosen by labels get a Kyverno rule of their own."""
    long = "t" * 41
    labelled = BASE.replace(
        "- name: team-a\n", f"- name: {long}\n      namespaceSelector: {{matchLabels: {{a: b}}}}\n"
    )
    assert errors(labelled) == [
        f"p.yaml:11:7: spec.tenants[0].name: at most 40 characters for a tenant chosen by labels "
        f"with target kyverno: its rule 'autogen-cronjob-tenant-{long}' must fit Kyverno's 63"
    ]
    config.parse(labelled.replace("[kyverno, gatekeeper]", "[gatekeeper]"), "p.yaml", today=NOW)
    config.parse(BASE.replace("- name: team-a", f"- name: {'t' * 63}"), "p.yaml", today=NOW)


def load_errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.load(path, today=NOW)
    return [str(p) for p in info.value.problems]


def test_an_impossible_date_has_its_line() -> None:
    text = BASE + (
        "  exemptions:\n    - name: e\n      namespaces: [x]\n      reason: r\n"
        "      owner: o\n      expires: 2027-02-30\n"
    )
    assert errors(text) == [
        "p.yaml:19:16: '2027-02-30' is not a valid date or timestamp (!!timestamp)"
    ]


def test_an_alias_bomb_and_deep_nesting_are_refused() -> None:
    from tests.test_yamlsafe import bomb

    assert errors(bomb(9)) == [
        "p.yaml:4:22: document contains excessive aliasing (the API server's limit): "
        "4,167 of 4,208 values would come from aliases"
    ]
    assert errors("metadata: " + "[" * 200 + "]" * 200) == [
        "p.yaml:1:110: nested deeper than 100 levels"
    ]


def test_bad_tags_and_control_characters_are_located() -> None:
    assert errors(BASE.replace("name: acme", "name: !!int abc")) == [
        "p.yaml:4:9: 'abc' is not an integer (!!int)"
    ]
    assert errors(BASE.replace("name: acme", "name: ac\x00me")) == [
        "p.yaml:4:11: control character U+0000 is not allowed in YAML"
    ]


def test_a_file_that_never_ends_is_bounded() -> None:
    assert load_errors(Path("/dev/zero")) == ["/dev/zero: larger than 4 MiB, not read"]


def test_not_utf8_has_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(BASE.replace("name: acme", "name: ac\xe9me").encode("latin-1"))
    assert load_errors(path) == [f"{path}:4:11: not UTF-8 text (byte 0xe9)"]


def test_utf16_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(BASE.encode("utf-16"))
    assert load_errors(path) == [
        f"{path}: UTF-16 text: policygen reads UTF-8; convert it, e.g. with iconv -f UTF-16 -t UTF-8"
    ]


def test_an_unreadable_config(tmp_path: Path) -> None:
    assert load_errors(tmp_path) == [f"{tmp_path}: cannot read: Is a directory"]


def test_a_nul_byte_in_the_file_has_its_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(BASE.replace("name: acme", "name: ac\x00me").encode())
    assert load_errors(path) == [f"{path}:4:11: control character U+0000 is not allowed in YAML"]


SELECTOR_TENANT = """\
    - name: team-s
      namespaceSelector:
{selector}
      registries: [harbor.corp.example/team-s]
"""


def with_selector(selector: str) -> str:
    return BASE + SELECTOR_TENANT.format(selector=selector)


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        (
            "        matchExpressions: [{key: tier, operator: In}]",
            "p.yaml:16:28: spec.tenants[1].namespaceSelector.matchExpressions[0]: "
            "values: must be given when the operator is In",
        ),
        (
            "        matchExpressions: [{key: tier, operator: Exists, values: [a]}]",
            "p.yaml:16:28: spec.tenants[1].namespaceSelector.matchExpressions[0]: "
            "values: must be empty when the operator is Exists",
        ),
        (
            "        matchExpressions: [{key: -tier, operator: Exists}]",
            "p.yaml:16:29: spec.tenants[1].namespaceSelector.matchExpressions[0].key: "
            "label key '-tier': the name must be at most 63 alphanumerics, "
            "'-', '_' or '.', starting and ending with an alphanumeric",
        ),
        (
            "        matchLabels: {Example.com/tier: web}",
            "p.yaml:16:23: spec.tenants[1].namespaceSelector.matchLabels.Example.com/tier.[key]: "
            "label key 'Example.com/tier': the prefix must be a DNS subdomain "
            "(lowercase alphanumerics, '-' and '.', at most 253 characters)",
        ),
        (
            "        matchLabels: {tier: 'web app'}",
            "p.yaml:16:23: spec.tenants[1].namespaceSelector.matchLabels.tier: "
            "label value 'web app': at most 63 alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric (or empty)",
        ),
    ],
)
def test_label_selectors_are_validated_as_the_api_server_does(selector: str, problem: str) -> None:
    assert errors(with_selector(selector)) == [problem]


def test_valid_label_selectors() -> None:
    text = with_selector(
        "        matchLabels: {example.com/tier: web, empty: ''}\n"
        "        matchExpressions: [{key: a.b/c_d, operator: NotIn, values: [x, '']}]"
    )
    assert config.parse(text, "p.yaml", today=NOW).spec.tenants[1].namespaceSelector is not None


def test_two_tenants_with_the_same_selector() -> None:
    text = BASE + (
        SELECTOR_TENANT.format(selector="        matchLabels: {tier: web, team: s}")
        + SELECTOR_TENANT.format(selector="        matchLabels: {team: s, tier: web}").replace(
            "team-s", "team-t"
        )
    )
    assert errors(text) == [
        "p.yaml:19:7: spec.tenants[2].namespaceSelector: the same namespaceSelector as "
        "tenant 'team-s': every namespace it selects would belong to both"
    ]


class _CannotMutate:
    """A stand-in target that declares it cannot express ``mutate``, as a
    target without a mutating kind would: the config names it and the
    field. (vap and kyverno-cel used to be such targets.)"""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.name = "vap"
        self.capabilities = dataclasses.replace(
            real.capabilities, mutates=False, no_mutation="no mutating kind"
        )

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def stand_in_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    import policygen.targets

    real = policygen.targets.registry

    def registry() -> dict[str, object]:
        found: dict[str, object] = dict(real())
        found["vap"] = _CannotMutate(found["vap"])
        return found

    monkeypatch.setattr(policygen.targets, "registry", registry)


def test_a_target_that_cannot_express_the_config_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stand_in_registry(monkeypatch)
    text = BASE.replace("[kyverno, gatekeeper]", "[kyverno, vap]").replace(
        "  rules:\n", "  rules:\n    pullPolicy: {action: mutate}\n"
    )
    assert errors(text) == [
        "p.yaml:8:18: spec.rules.pullPolicy.action: target vap cannot mutate (no mutating kind): "
        "use deny, warn or audit, or the kyverno, kyverno-cel or gatekeeper target"
    ]


def test_every_target_expresses_mutate() -> None:
    text = BASE.replace("[kyverno, gatekeeper]", "[kyverno, kyverno-cel, gatekeeper, vap]")
    text = text.replace("  rules:\n", "  rules:\n    pullPolicy: {action: mutate}\n")
    cfg = config.parse(text, "p.yaml", today=NOW)
    assert cfg.spec.rules.pullPolicy.action == "mutate"
