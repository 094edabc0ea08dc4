"""The tenant-isolation matrix: cells, contested prefixes, enforcing objects."""

from __future__ import annotations

import datetime as dt
from typing import Any

from policygen import bundle, config, isolation
from policygen.report import _selector
from tests.conftest import EXAMPLE


def example_data() -> dict[str, Any]:
    return config.load(EXAMPLE, today=None).model_dump(exclude_none=True)


def matrix_of(data: dict[str, Any], rendered: dict[str, str] | None = None) -> isolation.Matrix:
    # model_validate skips the cross-checks that refuse overlapping tenants,
    # so the matrix can be shown the case validation exists to prevent.
    return isolation.build(config.Config.model_validate(data), rendered or {}, _selector)


def cells(matrix: isolation.Matrix) -> dict[str, tuple[str, ...]]:
    return {p.entry: p.cells for p in matrix.prefixes}


def test_example_columns_and_cells() -> None:
    matrix = matrix_of(example_data())
    assert matrix.columns == ("team-a", "team-b", "payments", "(no tenant)")
    assert cells(matrix) == {
        "registry.k8s.io/pause": ("shared",) * 4,
        "harbor.corp.example/infra": ("shared",) * 4,
        "harbor.corp.example/team-a": ("own", "", "", ""),
        "harbor.corp.example/team-b": ("", "own", "", ""),
        "ghcr.io/acme-team-b": ("", "own", "", ""),
        "harbor.corp.example:8443/payments": ("", "", "own", ""),
    }
    assert matrix.contested == []


def test_a_covering_entry_makes_a_prefix_usable_by_two_tenants() -> None:
    data = example_data()
    data["spec"]["tenants"][0]["registries"].append("ghcr.io/acme-team-b/shared-tools")
    data["spec"]["tenants"][1]["registries"].append("harbor.corp.example/team-a/tools")
    matrix = matrix_of(data)
    assert cells(matrix)["ghcr.io/acme-team-b/shared-tools"] == (
        "own",
        "via ghcr.io/acme-team-b",
        "",
        "",
    )
    assert cells(matrix)["harbor.corp.example/team-a/tools"] == (
        "via harbor.corp.example/team-a",
        "own",
        "",
        "",
    )
    assert [(p.entry, p.users) for p in matrix.contested] == [
        ("ghcr.io/acme-team-b/shared-tools", ("team-a", "team-b")),
        ("harbor.corp.example/team-a/tools", ("team-a", "team-b")),
    ]


def test_the_same_entry_listed_twice_is_one_contested_row() -> None:
    data = example_data()
    data["spec"]["tenants"][2]["registries"].append("harbor.corp.example/team-a")
    matrix = matrix_of(data)
    rows = [p for p in matrix.prefixes if p.entry == "harbor.corp.example/team-a"]
    assert len(rows) == 1 and rows[0].source == "team-a"
    assert rows[0].users == ("team-a", "payments")


def test_a_shared_entry_under_which_a_tenant_lists_is_shared() -> None:
    # what every namespace may use is labelled shared, even if a tenant repeats it
    data = example_data()
    data["spec"]["tenants"][0]["registries"].append("harbor.corp.example/infra/team-a")
    assert cells(matrix_of(data))["harbor.corp.example/infra/team-a"] == ("shared",) * 4


def test_selector_only_tenants_are_marked() -> None:
    data = example_data()
    data["spec"]["tenants"][2] = {
        "name": "payments",
        "namespaceSelector": {"matchLabels": {"corp.example/tenant": "payments"}},
        "registries": ["harbor.corp.example:8443/payments"],
    }
    scopes = {t.name: t for t in matrix_of(data).tenants}
    assert scopes["payments"] == isolation.TenantScope(
        "payments", "", "corp.example/tenant=payments", True
    )
    assert scopes["team-a"].selector_only is False


def test_enforcing_objects_of_the_example_bundle() -> None:
    loaded = config.load(EXAMPLE, today=None)
    rendered = bundle.render_bundle(loaded, EXAMPLE, dt.date(2026, 11, 28)).files
    matrix = isolation.build(loaded, rendered, _selector)
    every = isolation.EVERY_COLUMN
    assert matrix.enforced_by == {
        "gatekeeper": [("AcmeImageRegistry/acme-registries", every)],
        "kyverno": [("ClusterPolicy/acme-restrict-image-registries", every)],
        "kyverno-cel": [("ValidatingPolicy/acme-registries", every)],
        "vap": [
            ("ValidatingAdmissionPolicy/acme-registries", every),
            ("ValidatingAdmissionPolicyBinding/acme-registries", every),
        ],
    }


def test_an_object_per_tenant_covers_that_tenant_only() -> None:
    data = example_data()
    data["spec"]["targets"] = ["vap"]
    data["spec"]["tenants"][1]["name"] = "team-a-batch"
    docs = "".join(
        f"---\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: acme-registries-{t}\n"
        f"  annotations: {{policygen.dev/rule: registries}}\n"
        for t in ("team-a", "team-a-batch")
    )
    rendered = {
        "vap/registries.yaml": docs + "---\nkind: ValidatingAdmissionPolicy\n"
        "metadata: {name: acme-digest, annotations: {policygen.dev/rule: digest}}\n"
    }
    assert matrix_of(data, rendered).enforced_by == {
        "vap": [
            ("ValidatingAdmissionPolicy/acme-registries-team-a", "tenant team-a"),
            ("ValidatingAdmissionPolicy/acme-registries-team-a-batch", "tenant team-a-batch"),
        ]
    }


def test_nothing_enforces_a_rule_that_is_off() -> None:
    data = example_data()
    data["spec"]["rules"]["registries"]["action"] = "off"
    assert matrix_of(data).enforced_by == {}
