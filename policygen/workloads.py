"""Where pods hide inside Kubernetes objects, and what the API server does to
them before admission."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from policygen.imageref import kubernetes_default_pull_policy

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

#: Kind → path from the object to its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTROLLER_KINDS = tuple(k for k in POD_SPEC_PATHS if k != "Pod")
#: The apiVersion each workload kind is served under.
API_VERSIONS = {
    "Pod": "v1",
    "ReplicationController": "v1",
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}


@dataclass(frozen=True)
class Container:
    list_name: str  # containers | initContainers | ephemeralContainers
    index: int
    name: str
    image: str
    pull_policy: str | None


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a Pod or pod controller; None for anything else."""
    path = POD_SPEC_PATHS.get(str(obj.get("kind", "")))
    if path is None:
        return None
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def containers(obj: dict[str, Any]) -> Iterator[Container]:
    spec = pod_spec(obj)
    if spec is None:
        return
    for list_name in CONTAINER_LISTS:
        items = spec.get(list_name)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            image = item.get("image")
            policy = item.get("imagePullPolicy")
            yield Container(
                list_name=list_name,
                index=index,
                name=str(item.get("name", "")),
                image=image if isinstance(image, str) else "",
                pull_policy=policy if isinstance(policy, str) and policy else None,
            )


def with_api_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy with ``imagePullPolicy`` defaulted as ``SetDefaults_Container``
    and ``SetDefaults_EphemeralContainer`` do, before any admission webhook
    sees the object (k8s ``pkg/apis/core/v1/defaults.go``)."""
    spec = pod_spec(obj)
    if spec is None or not any(
        isinstance(c, dict) and not c.get("imagePullPolicy")
        for name in CONTAINER_LISTS
        for c in (spec.get(name) or [])
    ):
        return obj
    # Copy only the path to the pod spec and the container lists: the rest is
    # shared with the input, which callers never mutate.
    out = dict(obj)
    node = out
    for key in POD_SPEC_PATHS[str(obj.get("kind"))]:
        child = dict(node[key])
        node[key] = child
        node = child
    for name in CONTAINER_LISTS:
        items = node.get(name)
        if not isinstance(items, list):
            continue
        node[name] = [_defaulted(item) for item in items]
    return out


def _defaulted(item: Any) -> Any:
    if not isinstance(item, dict) or item.get("imagePullPolicy"):
        return item
    image = item.get("image")
    policy = kubernetes_default_pull_policy(image if isinstance(image, str) else "")
    return {**item, "imagePullPolicy": policy}


PULL_POLICIES = ("Always", "IfNotPresent", "Never")


def structural_problems(obj: dict[str, Any]) -> list[str]:
    """What makes a workload one the API server would reject before any
    admission webhook sees it: such an object is reported, not evaluated
    (engines would each guess differently about a string where a container
    should be)."""
    path = POD_SPEC_PATHS[str(obj.get("kind"))]
    node: Any = obj
    for i, key in enumerate(path):
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return [f"{'.'.join(path[: i + 1])}: a mapping is required"]
    problems = []
    for list_name in CONTAINER_LISTS:
        items = node.get(list_name)
        where = f"{'.'.join(path)}.{list_name}"
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(f"{where}: a list is required")
            continue
        for i, item in enumerate(items):
            at = f"{where}[{i}]"
            if not isinstance(item, dict):
                problems.append(f"{at}: a mapping is required")
                continue
            for field in ("name", "image"):
                if not isinstance(item.get(field), str):
                    problems.append(f"{at}.{field}: a string is required")
            policy = item.get("imagePullPolicy")
            if policy is not None and policy not in PULL_POLICIES:
                problems.append(f"{at}.imagePullPolicy: one of {', '.join(PULL_POLICIES)}")
    return problems


def is_workload(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("kind") in POD_SPEC_PATHS
