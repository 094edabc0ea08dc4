"""Gatekeeper: ConstraintTemplates (CEL and Rego, ``_gatekeeper_cel.py``),
Constraints, ExpansionTemplates and Assign mutations. Rego is written to
parse as both v0 and v1 (``future.keywords`` imports, never ``import
rego.v1``, which Gatekeeper rejects: gatekeeper #3907)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from policygen import globs, versions
from policygen.config import Config, CrossProblem
from policygen.render import render
from policygen.rules import TABLE
from policygen.targets import Capabilities
from policygen.targets import _gatekeeper_cel as gatekeeper_cel
from policygen.targets._common import (
    active_rules,
    camel,
    common_data,
    digest_data,
    exemptions_for,
    prefix_regex,
    tenant_index,
)
from policygen.workloads import CONTAINER_LISTS, VOLUMES, policy_field
from policygen.yamlio import dump

if TYPE_CHECKING:
    from policygen.engines import EngineOptions, Evaluator

ENFORCEMENT = {"deny": "deny", "warn": "warn", "audit": "dryrun", "mutate": "deny"}

#: Controllers whose pod template an ExpansionTemplate turns into a Pod to review.
EXPANSIONS = [
    (
        "workloads",
        "spec.template",
        [
            {
                "groups": ["apps"],
                "kinds": ["DaemonSet", "Deployment", "ReplicaSet", "StatefulSet"],
                "versions": ["v1"],
            },
            {"groups": ["batch"], "kinds": ["Job"], "versions": ["v1"]},
            {"groups": [""], "kinds": ["ReplicationController"], "versions": ["v1"]},
        ],
    ),
    (
        "cronjobs",
        "spec.jobTemplate.spec.template",
        [{"groups": ["batch"], "kinds": ["CronJob"], "versions": ["v1"]}],
    ),
]


#: Where the rule templates find images: each container list by its path,
#: and image volumes through the library's records of them.
IMAGE_SOURCES = [
    {
        "kind": name[:-1],
        "ref": f"input.review.object.spec.{name}",
        "how": "read by their path",
        "field": policy_field(name),
        "policy": "imagePullPolicy",
    }
    for name in CONTAINER_LISTS
] + [
    {
        "kind": VOLUMES[:-1],
        "ref": "policygen.image_volumes",
        "how": "as the library's records",
        "field": policy_field(VOLUMES),
        "policy": "pullPolicy",
    }
]


class GatekeeperTarget:
    name = "gatekeeper"
    description = "OPA Gatekeeper ConstraintTemplates, Constraints, ExpansionTemplates, Assign"
    clock: str | None = "Rego time.now_ns() against each exemption's expiresAt parameter"

    capabilities = Capabilities(
        # Constraint and Assign match: Gatekeeper's wildcard (pkg/wildcard);
        # tenants, opt-in namespaces and exemptions are regexes in the Rego.
        scope_globs=globs.PREFIX_SUFFIX,
        selection_globs=globs.ANY,
        mutates=True,
        kinds=(
            ("templates.gatekeeper.sh/v1", "ConstraintTemplate"),
            # one Constraint kind per rule, named from the config: <Name>Image…
            ("constraints.gatekeeper.sh/v1beta1", "*"),
            ("expansion.gatekeeper.sh/v1alpha1", "ExpansionTemplate"),
            ("mutations.gatekeeper.sh/v1", "Assign"),
        ),
        # A template's K8sNativeValidation entry is what the cluster runs
        # (CEL first); gatekeeper-rego holds its Rego entry to the model
        # too, as Gatekeeper runs it with the CEL driver off.
        variants=("rego",),
    )

    def problems(self, config: Config) -> list[CrossProblem]:
        return []

    def evaluator(self, options: EngineOptions) -> Evaluator:
        from policygen.engines.gatekeeper import GatekeeperEngine

        code = "rego" if options.variant == "rego" else "auto"
        return GatekeeperEngine(options.rego_engine, code=code, fast=options.fast)

    def render(self, config: Config, now: dt.date) -> dict[str, str]:
        files: dict[str, str] = {}
        base = common_data(config)
        lib = render("gatekeeper/rego/lib.rego.j2", **base)
        for rule in active_rules(config):
            # a rule's files and kind are named by the rule table
            token, kind = TABLE[rule].token, camel(config.name) + TABLE[rule].kind
            rego = render(
                f"gatekeeper/rego/{token}.rego.j2",
                rule=rule,
                package=kind.lower(),
                image_sources=IMAGE_SOURCES,
                **base,
            )
            files[f"template-{token}.yaml"] = render(
                "gatekeeper/constrainttemplate.yaml.j2",
                kind=kind,
                rule=rule,
                parameters_schema=dump(parameters_schema(rule)),
                cel=None
                if versions.gatekeeper_without_cel(config, rule)
                else dump(gatekeeper_cel.source(rule)),
                rego=rego,
                lib=lib,
                **base,
            )
            files[f"constraint-{token}.yaml"] = render(
                "gatekeeper/constraint.yaml.j2",
                kind=kind,
                rule=rule,
                action=ENFORCEMENT[config.spec.rules.action(rule)],
                match=dump(self.match(config)),
                parameters=dump(self.parameters(config, rule)),
                **base,
            )
        files["expansiontemplates.yaml"] = render(
            "gatekeeper/expansiontemplates.yaml.j2",
            expansions=[
                {"suffix": s, "source": src, "apply": dump(apply)} for s, src, apply in EXPANSIONS
            ],
            **base,
        )
        if config.spec.rules.pullPolicy.action == "mutate":
            files["assign-pullpolicy.yaml"] = render(
                "gatekeeper/assign-pullpolicy.yaml.j2",
                match=dump(self.match(config)),
                lists=["containers", "initContainers"],
                **base,
            )
        return files

    @staticmethod
    def match(config: Config) -> dict[str, Any]:
        scope = config.spec.scope
        namespaces = list(scope.namespaces)
        if (
            "*" in namespaces
            and versions.of(config, "gatekeeper") < versions.GATEKEEPER_BARE_WILDCARD
        ):
            namespaces = []  # every namespace, which its schema lets "*" not say
        match: dict[str, Any] = {
            "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
            "scope": "Namespaced",
            **({"namespaces": namespaces} if namespaces else {}),
            "excludedNamespaces": list(scope.excludeNamespaces),
        }
        if not scope.namespaceSelector.empty:
            match["namespaceSelector"] = scope.namespaceSelector.model_dump(exclude_defaults=True)
        return match

    @staticmethod
    def parameters(config: Config, rule: str) -> dict[str, Any]:
        params: dict[str, Any] = {"exemptions": exemptions_for(config, rule)}
        if rule == "digest":
            params.update(digest_data(config))
        if rule == "registries":
            params["sharedRegex"] = prefix_regex(list(config.spec.rules.registries.allowed))
            params |= tenant_index(config)
        return params


def _string() -> dict[str, Any]:
    # fresh dicts each time: a shared one would be dumped as a YAML alias
    return {"type": "string"}


def _strings() -> dict[str, Any]:
    return {"type": "array", "items": _string()}


def _integers() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "integer"}}


def _map(values: dict[str, Any]) -> dict[str, Any]:
    """An object keyed by data (namespaces, tenants, label keys): a
    structural schema's ``additionalProperties``."""
    return {"type": "object", "additionalProperties": values}


def _owner_entries(*, regex: bool = False) -> dict[str, Any]:
    """Index entries: the tenant, and the regex that confirms the glob
    where its key alone does not (always, for ``ownersByPattern``)."""
    required = ["tenant", "regex"] if regex else ["tenant"]
    return {"type": "array", "items": _object({"tenant": _string(), "regex": _string()}, required)}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


#: A Kubernetes LabelSelector, as tenants carry it (absent when they have none).
LABEL_SELECTOR: dict[str, Any] = {
    "type": "object",
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {
            "type": "array",
            "items": _object(
                {
                    "key": _string(),
                    "operator": {
                        "type": "string",
                        "enum": ["In", "NotIn", "Exists", "DoesNotExist"],
                    },
                    "values": _strings(),
                },
                ["key", "operator"],
            ),
        },
    },
}


def parameters_schema(rule: str) -> dict[str, Any]:
    """The structural schema of a rule's Constraint parameters: Gatekeeper
    builds the Constraint CRD from it (frameworks crds.CreateSchema), so a
    Constraint with a misspelt or missing parameter is refused at apply
    time instead of reaching the Rego as an undefined value. The same for
    every config: tenants and exemptions change parameters, not templates."""
    props: dict[str, Any] = {
        "exemptions": {
            "type": "array",
            "items": _object(
                {
                    "name": _string(),
                    "namespaces": _strings(),
                    "images": _strings(),
                    # RFC 3339; the template compares it with time.now_ns()
                    "expiresAt": {"type": "string", "format": "date-time"},
                },
                ["name", "namespaces", "images", "expiresAt"],
            ),
        }
    }
    if rule == "digest":
        props |= {"pinnedRegex": _string(), "digestHint": _string(), "namespaces": _strings()}
    if rule == "registries":
        props |= {
            "sharedRegex": _string(),
            # Tenants indexed by what a review looks up (_common.tenant_index).
            "ownersByNamespace": _map(_strings()),
            "ownersByPrefix": _map(_owner_entries()),
            "prefixLengths": _integers(),
            "ownersBySuffix": _map(_owner_entries()),
            "suffixLengths": _integers(),
            "ownersByPattern": _owner_entries(regex=True),
            "tenantRegistries": _map(_string()),
            "selectors": _map(LABEL_SELECTOR),
            "selectorsByLabel": _map(_map(_strings())),
            "selectorsUnindexed": _strings(),
        }
    return {"type": "object", "required": sorted(props), "properties": props}


TARGET = GatekeeperTarget()
