"""Configs of any size, for tests and bench: N tenants, each with two
namespace globs and two registries, plus M exemptions (issue #21's envelope
is 1,000 tenants and 200 exemptions)."""

from __future__ import annotations

import datetime as dt

from policygen import config

ALL_TARGETS = ("kyverno", "kyverno-cel", "gatekeeper", "vap")


def config_text(
    tenants: int = 1000,
    exemptions: int = 200,
    *,
    targets: tuple[str, ...] = ALL_TARGETS,
    digest: str = "deny",
    pull_policy: str = "deny",
    registries: str = "deny",
    selectors: bool = False,
    digest_namespaces: tuple[str, ...] = (),
) -> str:
    """A valid config. ``selectors``: every third tenant is chosen by a label
    selector as well as by its globs, and scope has a namespace selector."""
    lines = [
        "apiVersion: policygen.dev/v1alpha1",
        "kind: ImagePolicyConfig",
        "metadata: {name: scale}",
        "spec:",
        f"  targets: [{', '.join(targets)}]",
        "  scope:",
        '    namespaces: ["*"]',
        "    excludeNamespaces: [kube-system, kube-public]",
    ]
    if selectors:
        lines.append(
            "    namespaceSelector: "
            "{matchExpressions: [{key: policygen.dev/skip, operator: DoesNotExist}]}"
        )
    lines += [
        "  rules:",
        f"    digest: {{action: {digest}, algorithms: [sha256, sha512]"
        + (f", namespaces: [{', '.join(digest_namespaces)}]" if digest_namespaces else "")
        + "}",
        f"    pullPolicy: {{action: {pull_policy}}}",
        f"    registries: {{action: {registries}, allowed: [registry.k8s.io/pause, "
        "harbor.corp.example/shared]}",
        "  tenants:" if tenants else "  tenants: []",
    ]
    for i in range(tenants):
        name = f"t{i:04d}"
        lines.append(f"    - name: {name}")
        lines.append(f"      namespaces: [{name}, {name}-*]")
        if selectors and i % 3 == 0:
            lines.append(f"      namespaceSelector: {{matchLabels: {{tenant: {name}}}}}")
        lines.append(
            f"      registries: [harbor.corp.example/{name}, registry.{name}.example:5000/apps]"
        )
    lines.append("  exemptions:" if exemptions else "  exemptions: []")
    for i in range(exemptions):
        rules = ["digest", "pullPolicy", "registries"][i % 3]
        lines += [
            f"    - name: e{i:04d}",
            f"      rules: [{rules}]",
            f"      namespaces: [t{i % max(tenants, 1):04d}-*]",
            f'      images: ["harbor.corp.example/vendor/tool{i}:*"]',
            "      reason: vendor pins by tag",
            "      owner: platform@corp.example",
            "      expires: 2099-12-31",
        ]
    return "\n".join(lines) + "\n"


def load(text: str, today: dt.date) -> config.Config:
    return config.parse(text, "scale.yaml", today=today)
