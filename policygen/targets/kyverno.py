"""Kyverno ``kyverno.io/v1`` ClusterPolicies.

Facts this shape relies on (../shared/notes/kyverno.md, kyverno sources):
- a rule per workload shape (Pod, controllers, CronJob) with autogen off:
  Kyverno's autogen keeps failureAction but drops ``emitWarning``
  (pkg/autogen/v1/rule.go), so warn-level rules would never warn for
  controllers; a Pod match also covers ``pods/ephemeralcontainers``
  (pkg/utils/match/kind.go);
- per-rule ``failureAction`` and ``allowExistingViolations: false``, since
  ``kubectl debug`` is an UPDATE that would otherwise keep an old violation;
- images are read from each foreach element, not through Kyverno's
  ``images`` variable: that holds containers only (its extractors,
  pkg/utils/api/image.go ``BuildStandardExtractors``), never image volumes,
  keeps ``index.docker.io`` as written and adds ``library/`` to one-segment
  paths of every registry; the policy splits and normalises the name as
  distribution's splitDockerDomain does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from policygen import globs, imageref
from policygen.config import Config
from policygen.render import render
from policygen.targets._common import (
    active_rules,
    alternation,
    common_data,
    exemptions_for,
    pinned_regex,
    prefix_regex,
)
from policygen.violations import MESSAGES
from policygen.workloads import CONTAINER_LISTS, VOLUMES, policy_field
from policygen.yamlio import dump

FAILURE_ACTION = {"deny": "Enforce", "warn": "Audit", "audit": "Audit", "mutate": "Enforce"}
POLICY_NAMES = {
    "digest": "require-image-digest",
    "pullPolicy": "require-pull-always",
    "registries": "restrict-image-registries",
}


#: Rules per workload shape: (rule name suffix, kinds, path of the pod spec).
#: Written out rather than left to Kyverno's autogen, which drops emitWarning.
WORKLOADS: list[tuple[str, tuple[str, ...], str]] = [
    ("", ("Pod",), "spec"),
    (
        "-controllers",
        ("DaemonSet", "Deployment", "Job", "ReplicaSet", "ReplicationController", "StatefulSet"),
        "spec.template.spec",
    ),
    ("-cronjobs", ("CronJob",), "spec.jobTemplate.spec.template.spec"),
]
#: Longest rule-name suffix, for the 63-character limit on rule names.
LONGEST_SUFFIX = max(len(suffix) for suffix, _, _ in WORKLOADS)
PULL_ALWAYS = {"name": "{{ element.name }}", "imagePullPolicy": "Always"}


@dataclass(frozen=True)
class Variant:
    suffix: str
    path: str
    match: str  # the rule's match block, as YAML
    patches: dict[str, str]  # per container list: the set-Always patch, as YAML


def _nested(path: str, leaf: dict[str, Any]) -> dict[str, Any]:
    """``spec.template.spec`` + leaf → ``{spec: {template: {spec: leaf}}}``."""
    out: dict[str, Any] = leaf
    for key in reversed(path.split(".")):
        out = {key: out}
    return out


class KyvernoTarget:
    name = "kyverno"
    description = "Kyverno ClusterPolicies (kyverno.io/v1)"

    def unsupported(self, config: Config) -> str | None:
        return None  # every rule and action, mutate included

    def render(self, config: Config, now: dt.date) -> dict[str, str]:
        files: dict[str, str] = {}
        base = common_data(config)
        for rule in active_rules(config):
            action = config.spec.rules.action(rule)
            files[f"{POLICY_NAMES[rule]}.yaml"] = render(
                f"kyverno/{POLICY_NAMES[rule]}.yaml.j2",
                policy_name=f"{config.name}-{POLICY_NAMES[rule]}",
                failure_action=FAILURE_ACTION[action],
                emit_warning=action == "warn",
                mutate=action == "mutate",
                sources=SOURCES,
                variants=self.variants(config),
                exclude=_dump_exclude(self.exclude(config)),
                exemptions=self.exemption_conditions(config, rule),
                pinned_regex=pinned_regex(config),
                reference_regex=imageref.REFERENCE_RE,
                hint=imageref.digest_hint(list(config.spec.rules.digest.algorithms)),
                digest_namespaces=(
                    alternation([globs.to_regex(n) for n in config.spec.rules.digest.namespaces])
                    if config.spec.rules.digest.namespaces
                    else ""
                ),
                registry_rules=self.registry_rules(config),
                image_name_jmespath=IMAGE_NAME,
                image_key_jmespath=IMAGE_KEY,
                valid_jmespath=VALID,
                digest_problem=_problem(
                    MESSAGES["digest"].format(
                        kind="",
                        container="",
                        image="",
                        hint=imageref.digest_hint(list(config.spec.rules.digest.algorithms)),
                    )
                ),
                registries_problem=_problem(
                    MESSAGES["registries"].format(
                        kind="", container="", image="", namespace="', request.namespace, '"
                    ),
                    joined=True,
                ),
                **{k: v for k, v in base.items() if k != "reference_regex"},
            )
        return files

    def variants(self, config: Config, namespaces: list[str] | None = None) -> list[Variant]:
        return [
            Variant(
                suffix,
                path,
                dump(self.match(config, namespaces, kinds)),
                {lst: dump(_nested(path, {lst: [PULL_ALWAYS]})) for lst in CONTAINER_LISTS},
            )
            for suffix, kinds, path in WORKLOADS
        ]

    @staticmethod
    def match(
        config: Config, namespaces: list[str] | None = None, kinds: tuple[str, ...] = ("Pod",)
    ) -> dict[str, Any]:
        scope = config.spec.scope
        resources: dict[str, Any] = {"kinds": list(kinds)}
        ns = namespaces if namespaces is not None else list(scope.namespaces)
        if ns != ["*"]:
            resources["namespaces"] = ns
        if not scope.namespaceSelector.empty:
            resources["namespaceSelector"] = scope.namespaceSelector.model_dump(
                exclude_defaults=True
            )
        return {"any": [{"resources": resources}]}

    @staticmethod
    def exclude(config: Config, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        entries: list[dict[str, Any]] = []
        if config.spec.scope.excludeNamespaces:
            entries.append({"resources": {"namespaces": list(config.spec.scope.excludeNamespaces)}})
        return {"any": entries + (extra or [])}

    @staticmethod
    def exemption_conditions(config: Config, rule: str) -> list[dict[str, str]]:
        """One precondition per exemption: this element is not exempt by it."""
        return [
            {
                "name": e["name"],
                "namespaces": alternation(e["namespaces"]),
                "images": alternation(e["images"]),
            }
            for e in exemptions_for(config, rule)
        ]

    def registry_rules(self, config: Config) -> list[dict[str, Any]]:
        """A rule for namespaces outside every tenant (shared entries only) and
        one per tenant (shared + its own). A namespace two tenants select
        matches both rules, so an image must satisfy both: least privilege."""
        shared = list(config.spec.rules.registries.allowed)
        tenants = config.spec.tenants
        outside_excludes: list[dict[str, Any]] = []
        for t in tenants:
            if t.namespaces:
                outside_excludes.append({"resources": {"namespaces": list(t.namespaces)}})
            if t.namespaceSelector is not None:
                outside_excludes.append(
                    {
                        "resources": {
                            "namespaceSelector": t.namespaceSelector.model_dump(
                                exclude_defaults=True
                            )
                        }
                    }
                )
        rules = [
            {
                "name": "shared-registries",
                "description": "namespaces outside every tenant: shared registries only",
                "match": {v.suffix: v.match for v in self.variants(config)},
                "exclude": _dump_exclude(self.exclude(config, outside_excludes)),
                "allowed_regex": prefix_regex(shared),
            }
        ]
        for t in tenants:
            matches = {}
            for suffix, kinds, _ in WORKLOADS:
                any_of: list[dict[str, Any]] = []
                if t.namespaces:
                    any_of.extend(self.match(config, list(t.namespaces), kinds)["any"])
                if t.namespaceSelector is not None:
                    sel = self.match(config, kinds=kinds)["any"][0]["resources"]
                    sel["namespaceSelector"] = _merge_selectors(
                        sel.get("namespaceSelector", {}),
                        t.namespaceSelector.model_dump(exclude_defaults=True),
                    )
                    any_of.append({"resources": sel})
                matches[suffix] = dump({"any": any_of})
            rules.append(
                {
                    "name": f"tenant-{t.name}",
                    "description": f"tenant {t.name}: shared registries and its own",
                    "match": matches,
                    "exclude": _dump_exclude(self.exclude(config)),
                    "allowed_regex": prefix_regex(shared + list(t.registries)),
                }
            )
        return rules


#: Where each rule's foreach finds images: the container lists, and the
#: volumes that have an image source (``!= null``: an empty ``image: {}``
#: is an image volume too, with no valid reference).
SOURCES = [
    {
        "list": name,
        "filter": "",
        "kind": name[:-1],
        "image": "element.image",
        "policy": "element.imagePullPolicy",
        "field": policy_field(name),
    }
    for name in CONTAINER_LISTS
] + [
    {
        "list": VOLUMES,
        "filter": "[?image != null]",
        "kind": VOLUMES[:-1],
        "image": "element.image.reference",
        "policy": "element.image.pullPolicy",
        "field": policy_field(VOLUMES),
    }
]

# The name as written: the reference without its digest and tag (a tag's
# ":" comes after the last "/", a port's does not).
_RAW_NAME = "regex_replace_all(':[^:/]*$', regex_replace_all('@.*$', image, ''), '')"
# splitDockerDomain: the first component is a domain when it holds "." or
# ":" or an upper-case letter, or is localhost; else the name is Docker
# Hub's. Then index.docker.io is docker.io, whose one-segment paths gain
# library/.
_WITH_DOMAIN = (
    f"(regex_match('^(?:[^/]*[.:A-Z][^/]*|localhost)/', {_RAW_NAME}) && {_RAW_NAME} "
    f"|| join('', ['docker.io/', {_RAW_NAME}]))"
)
IMAGE_NAME = (
    "regex_replace_all('^docker\\.io/([^/]+)$', "
    f"regex_replace_all('^index\\.docker\\.io/', {_WITH_DOMAIN}, 'docker.io/'), "
    "'docker.io/library/$1')"
)
#: Whether the image parses (policygen.imageref): the grammar, not an image
#: ID, and a normalised path (imageName after its domain) of at most the
#: limit.
VALID = (
    f"regex_match('{imageref.REFERENCE_RE}', image) "
    f"&& !regex_match('{imageref.IDENTIFIER_RE}', image) "
    "&& length(regex_replace_all('^[^/]*/', imageName, '')) "
    f"<= `{imageref.NAME_TOTAL_LENGTH_MAX}`"
)
# What exemption image globs see: the normalised reference (its tag and
# digest as written, ":latest" when it has neither); only a valid image is
# ever matched against them.
IMAGE_KEY = (
    "join('', [imageName, "
    "regex_replace_all('^[^@]*?((?::[^:/@]*)?(?:@.*)?)$', image, '$1') || ':latest'])"
)


def _problem(valid_text: str, *, joined: bool = False) -> str:
    """JMESPath for the message tail: the rule's complaint for a valid
    reference, the invalid-reference one otherwise, as the model says."""
    tail = valid_text.split('" ', 2)[-1]  # after '{kind} "{container}" image "{image}" '
    invalid = MESSAGES["invalid"].format(kind="", container="", image="").split('" ', 2)[-1]
    valid = f"join('', ['{tail}'])" if joined else f"'{tail}'"
    return f"valid && {valid} || '{invalid}'"


def _dump_exclude(exclude: dict[str, Any]) -> str:
    return dump(exclude) if exclude["any"] else ""


def _merge_selectors(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Both selectors must hold: scope's and the tenant's."""
    out: dict[str, Any] = {}
    labels = {**a.get("matchLabels", {}), **b.get("matchLabels", {})}
    if labels:
        out["matchLabels"] = labels
    exprs = a.get("matchExpressions", []) + b.get("matchExpressions", [])
    if exprs:
        out["matchExpressions"] = exprs
    return out


TARGET = KyvernoTarget()
