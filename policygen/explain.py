"""``policygen explain IMAGE``: the parsed reference and each rule's verdict, with why."""

from __future__ import annotations

import datetime as dt
from typing import Any

from policygen import globs, imageref, model
from policygen.config import Config


def explain(
    config: Config, image: str, namespace: str, pull_policy: str | None, now: dt.date
) -> str:
    lines = [f"image:      {image}"]
    ref = imageref.try_parse(image)
    if ref is None:
        try:
            imageref.parse(image)
        except imageref.InvalidReference as exc:
            lines.append(f"parse:      INVALID ({exc})")
    else:
        lines += [
            f"normalised: {ref.normalized}",
            f"registry:   {ref.domain}",
            f"repository: {ref.path}",
            f"tag:        {ref.tag or '-'}",
            f"digest:     {ref.digest or '-'}",
        ]
    defaulted = imageref.kubernetes_default_pull_policy(image)
    effective = pull_policy or defaulted
    source = "as given" if pull_policy else "API-server default"
    lines.append(f"pullPolicy: {effective} ({source})")
    lines.append(f"namespace:  {namespace}")
    spec = config.spec
    in_scope = globs.match_any(spec.scope.namespaces, namespace) and not globs.match_any(
        spec.scope.excludeNamespaces, namespace
    )
    if not in_scope:
        lines.append("verdict:    ALLOW (namespace outside scope)")
        return "\n".join(lines) + "\n"
    container: dict[str, Any] = {"name": "explain", "image": image}
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "explain", "namespace": namespace},
        "spec": {"containers": [container]},
    }
    violations = model.evaluate(config, pod, model.Context(now=now, namespaces={}))
    tenants = [t.name for t in spec.tenants if globs.match_any(t.namespaces, namespace)]
    lines.append(f"tenants:    {', '.join(tenants) or '-'}")
    for rule in ("digest", "pullPolicy", "registries"):
        action = spec.rules.action(rule)
        found = [v for v in violations if v.rule == rule]
        if action == "off":
            lines.append(f"{rule:11} off")
        elif found:
            lines.append(f"{rule:11} {found[0].action.upper()}: {found[0].message}")
        elif _exempted(config, rule, namespace, image, now):
            lines.append(
                f"{rule:11} pass (exempted by {_exempted(config, rule, namespace, image, now)})"
            )
        else:
            lines.append(f"{rule:11} pass")
    return "\n".join(lines) + "\n"


def _exempted(config: Config, rule: str, namespace: str, image: str, now: dt.date) -> str:
    key = model.image_key(image, imageref.try_parse(image))
    for e in config.spec.exemptions:
        if model.exemption_matches(e, rule, namespace, key, now):
            return f"{e.name}, owner {e.owner}, expires {e.expires.isoformat()}"
    return ""
