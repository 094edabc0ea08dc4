"""``policygen explain IMAGE``: the parsed reference and each rule's verdict,
with why. Every answer is the reference model's (scope, selectors, tenants,
exemptions, mutation, unknown namespaces): explain only says it in words."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from policygen import imageref, model
from policygen.config import Config
from policygen.rules import NAMES as RULES

WHY_OUTSIDE = {
    "outside": "namespace outside scope",
    "excluded": "namespace excluded",
    "unselected": "namespace not selected by scope.namespaceSelector",
}


def workload(
    image: str, namespace: str, pull_policy: str | None, *, volume: bool = False
) -> dict[str, Any]:
    """The Pod explain asks the model about: one container, or one image
    volume beside a container that breaks no rule."""
    if volume:
        source: dict[str, Any] = {"reference": image}
        if pull_policy is not None:
            source["pullPolicy"] = pull_policy
        spec: dict[str, Any] = {"containers": [], "volumes": [{"name": "explain", "image": source}]}
    else:
        container: dict[str, Any] = {"name": "explain", "image": image}
        if pull_policy is not None:
            container["imagePullPolicy"] = pull_policy
        spec = {"containers": [container]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "explain", "namespace": namespace},
        "spec": spec,
    }


def explain(
    config: Config,
    image: str,
    namespace: str,
    pull_policy: str | None,
    now: dt.date,
    *,
    volume: bool = False,
    namespaces: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """``namespaces``: the Namespace objects known (the one named, for its
    labels); without it a selector cannot be decided, as in ``scan``."""
    known = dict(namespaces or {})
    lines = [f"image:      {image}"]
    try:
        ref: imageref.ImageRef | None = imageref.parse(image)
    except imageref.InvalidReference as exc:
        ref = None
        lines.append(f"parse:      INVALID ({exc})")
    if ref is not None:
        lines += [
            f"normalised: {ref.normalized}",
            f"registry:   {ref.domain}",
            f"repository: {ref.path}",
            f"tag:        {ref.tag or '-'}",
            f"digest:     {ref.digest or '-'}",
        ]
    given = pull_policy or None  # "" is defaulted like an absent policy
    effective = given or imageref.kubernetes_default_pull_policy(image)
    source = ("as given" if given else "API-server default") + (", image volume" if volume else "")
    lines.append(f"pullPolicy: {effective} ({source})")
    lines.append(f"namespace:  {namespace}")
    ctx = model.Context(now=now, namespaces=known, default_namespace=namespace)
    labels = model.labels_of(ctx, namespace)
    scope = model.scope_of(config, namespace, labels)
    if scope in WHY_OUTSIDE:
        lines.append(f"verdict:    ALLOW ({WHY_OUTSIDE[scope]})")
        return "\n".join(lines) + "\n"
    if scope == "unknown":
        lines.append(
            "verdict:    UNKNOWN (scope.namespaceSelector needs the Namespace object; "
            "pass its labels with --label)"
        )
        return "\n".join(lines) + "\n"
    found = model.evaluate(config, workload(image, namespace, pull_policy, volume=volume), ctx)
    tenants = model.tenants_of(config.spec.tenants, namespace, labels)
    shown = "unknown (a tenant's namespaceSelector needs the Namespace object)"
    lines.append(
        f"tenants:    {shown if tenants is None else ', '.join(t.name for t in tenants) or '-'}"
    )
    key = model.image_key(image, ref)
    for rule in RULES:
        lines.append(f"{rule:11} {_rule_line(config, rule, found, namespace, key, now, volume)}")
    return "\n".join(lines) + "\n"


def _rule_line(
    config: Config,
    rule: str,
    found: list[Any],
    namespace: str,
    key: str | None,
    now: dt.date,
    volume: bool,
) -> str:
    action = config.spec.rules.action(rule)
    if action == "off":
        return "off"
    hits = [v for v in found if v.rule == rule]
    if hits:
        return f"{hits[0].action.upper()}: {hits[0].message}"
    exemption = model.exempted_by(config, rule, namespace, key, now)
    if exemption is not None:
        return (
            f"pass (exempted by {exemption.name}, owner {exemption.owner}, "
            f"expires {exemption.expires.isoformat()})"
        )
    if rule == "digest" and not model.digest_applies(config, namespace):
        return "pass (namespace not opted in to digest pinning)"
    if rule == "pullPolicy" and action == "mutate" and not volume:
        return "pass (set to Always by mutation)"
    return "pass"
