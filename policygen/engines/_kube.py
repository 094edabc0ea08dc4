"""Kubernetes API facts the admission evaluators need offline: which
resource a kind is served as, and whether it is cluster-scoped.

Offline there is no discovery. The Kyverno CLI maps a kind to its resource
with a RESTMapper over its built-in discovery data and, for kinds that data
lacks, with apimachinery's ``meta.UnsafeGuessKindToResource``
(cmd/cli/kubectl-kyverno/processor/policy_processor.go, ``resolveResource``).
For every built-in kind the guess gives the served plural, so the guess alone
is the mapping; a CRD whose plural is irregular is the one case it cannot
know. Scope comes from the same discovery data
(cmd/cli/kubectl-kyverno/resource/resource.go, ``isClusterScopedKind``):
a resource file without a namespace is put in ``default`` unless its kind
is cluster-scoped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: built-in cluster-scoped kinds by API group (Kubernetes discovery)
CLUSTER_SCOPED: Mapping[str, frozenset[str]] = {
    "": frozenset({"ComponentStatus", "Namespace", "Node", "PersistentVolume"}),
    "admissionregistration.k8s.io": frozenset(
        {
            "MutatingAdmissionPolicy",
            "MutatingAdmissionPolicyBinding",
            "MutatingWebhookConfiguration",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "ValidatingWebhookConfiguration",
        }
    ),
    "apiextensions.k8s.io": frozenset({"CustomResourceDefinition"}),
    "apiregistration.k8s.io": frozenset({"APIService"}),
    "authentication.k8s.io": frozenset({"SelfSubjectReview", "TokenReview"}),
    "authorization.k8s.io": frozenset(
        {"SelfSubjectAccessReview", "SelfSubjectRulesReview", "SubjectAccessReview"}
    ),
    "certificates.k8s.io": frozenset({"CertificateSigningRequest"}),
    "flowcontrol.apiserver.k8s.io": frozenset({"FlowSchema", "PriorityLevelConfiguration"}),
    "networking.k8s.io": frozenset({"IPAddress", "IngressClass", "ServiceCIDR"}),
    "node.k8s.io": frozenset({"RuntimeClass"}),
    "rbac.authorization.k8s.io": frozenset({"ClusterRole", "ClusterRoleBinding"}),
    "resource.k8s.io": frozenset({"DeviceClass", "ResourceSlice"}),
    "scheduling.k8s.io": frozenset({"PriorityClass"}),
    "storage.k8s.io": frozenset(
        {"CSIDriver", "CSINode", "StorageClass", "VolumeAttachment", "VolumeAttributesClass"}
    ),
}


def group_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` → (``apps``, ``v1``); the core group is ``""``."""
    group, _, version = api_version.rpartition("/")
    return group, version


def resource_for(kind: str) -> str:
    """The resource a kind is served as (``UnsafeGuessKindToResource``):
    lower case, then ``-es`` after an ``s``, ``-ies`` for a final ``y``,
    else ``-s``; ``endpoints`` is already plural."""
    if not kind:
        return ""
    singular = kind.lower()
    if singular.endswith("endpoints"):
        return singular
    if singular.endswith("s"):
        return singular + "es"
    if singular.endswith("y"):
        return singular[:-1] + "ies"
    return singular + "s"


def cluster_scoped(api_version: str, kind: str) -> bool:
    return kind in CLUSTER_SCOPED.get(group_version(api_version)[0], frozenset())


def gvr(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(group, version, resource) of an object, as admission names it."""
    group, version = group_version(str(obj.get("apiVersion", "")))
    return group, version, resource_for(str(obj.get("kind", "")))


# --- list semantics for server-side apply ---------------------------------------
# Kubernetes' OpenAPI marks each list of its types with x-kubernetes-list-type:
# ``map`` (elements merged by the x-kubernetes-list-map-keys), ``set``, or
# ``atomic`` (replaced whole; also the default for an unmarked list).

#: list field → its map keys, for the lists of Pod specs, containers,
#: metadata and Services (core/v1 types.go ``+listType=map``)
LIST_MAP_KEYS: Mapping[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "volumes": ("name",),
    "env": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "hostAliases": ("ip",),
    "imagePullSecrets": ("name",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "resourceClaims": ("name",),
    "schedulingGates": ("name",),
    "ownerReferences": ("uid",),
}
#: ``ports`` is keyed by containerPort in a container, by port in a Service
CONTAINER_PORT_KEYS = ("containerPort", "protocol")
SERVICE_PORT_KEYS = ("port", "protocol")
SET_LISTS = frozenset({"finalizers"})
#: maps replaced whole (``+mapType=atomic``)
ATOMIC_MAPS = frozenset({"nodeSelector"})
ATOMIC_LISTS = frozenset(
    {
        "args",
        "command",
        "envFrom",
        "tolerations",
        "readinessGates",
        "add",
        "drop",
        "nodeSelectorTerms",
        "matchExpressions",
        "matchFields",
        "values",
        "nameservers",
        "searches",
        "options",
        "sysctls",
        "supplementalGroups",
        "hostIPs",
        "podIPs",
        "accessModes",
        "externalIPs",
        "loadBalancerSourceRanges",
        "rules",
        "tls",
        "hosts",
        "paths",
        "items",
    }
)
