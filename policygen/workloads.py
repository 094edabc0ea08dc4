"""Where pods hide inside Kubernetes objects, and what the API server does to
them before admission."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from policygen.imageref import kubernetes_default_pull_policy

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
#: Image volumes (``spec.volumes[].image``, stable in Kubernetes 1.36,
#: KEP-4639) are images a Pod runs from too: every rule reads them.
VOLUMES = "volumes"
IMAGE_LISTS = (*CONTAINER_LISTS, VOLUMES)

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
    """One image a Pod uses: a container's, or an image volume's."""

    list_name: str  # containers | initContainers | ephemeralContainers | volumes
    index: int
    name: str
    image: str
    pull_policy: str | None


def policy_field(list_name: str) -> str:
    """The field that holds an image's pull policy, as messages name it."""
    return "pullPolicy" if list_name == VOLUMES else "imagePullPolicy"


def workload_path(obj: Any) -> tuple[str, ...] | None:
    """The path to the pod spec, for a workload the API server serves under
    exactly this apiVersion and kind (a custom resource called ``CronJob``
    is not one); None for anything else."""
    if not isinstance(obj, dict):
        return None
    kind = obj.get("kind")
    if not isinstance(kind, str) or API_VERSIONS.get(kind) != obj.get("apiVersion"):
        return None
    return POD_SPEC_PATHS[kind]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a Pod or pod controller; None for anything else."""
    path = workload_path(obj)
    if path is None:
        return None
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def containers(obj: dict[str, Any]) -> Iterator[Container]:
    """Every image of the workload: containers in list order, then image
    volumes (volumes of other types are not images)."""
    spec = pod_spec(obj)
    if spec is None:
        return
    yield from _containers(spec)
    volumes = spec.get(VOLUMES)
    for index, item in enumerate(volumes if isinstance(volumes, list) else []):
        source = item.get("image") if isinstance(item, dict) else None
        if not isinstance(source, dict):
            continue
        reference, policy = source.get("reference"), source.get("pullPolicy")
        yield Container(
            list_name=VOLUMES,
            index=index,
            name=str(item.get("name", "")),
            image=reference if isinstance(reference, str) else "",
            pull_policy=policy if isinstance(policy, str) and policy else None,
        )


def _containers(spec: dict[str, Any]) -> Iterator[Container]:
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
    """The object as an admission webhook receives it: decoded into the API
    types and encoded again, so a ``null`` field is absent (Go's zero value,
    omitted), and defaulted: ``imagePullPolicy`` as ``SetDefaults_Container``
    and ``SetDefaults_EphemeralContainer`` do, an image volume's
    ``pullPolicy`` as ``SetDefaults_Volume`` does, both alike when absent or
    ``""`` (k8s ``pkg/apis/core/v1/defaults.go``)."""
    if workload_path(obj) is None:
        return obj
    obj = _without_nulls(obj)
    spec = pod_spec(obj)
    if spec is None or not _needs_defaults(spec):
        return obj
    # Copy only the path to the pod spec and the lists: the rest is shared
    # with the input, which callers never mutate.
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
    volumes = node.get(VOLUMES)
    if isinstance(volumes, list):
        node[VOLUMES] = [_defaulted_volume(item) for item in volumes]
    return out


def _needs_defaults(spec: dict[str, Any]) -> bool:
    for name in CONTAINER_LISTS:
        items = spec.get(name)
        if isinstance(items, list) and any(
            isinstance(c, dict) and not c.get("imagePullPolicy") for c in items
        ):
            return True
    volumes = spec.get(VOLUMES)
    return isinstance(volumes, list) and any(
        isinstance(v, dict)
        and isinstance(v.get("image"), dict)
        and not v["image"].get("pullPolicy")
        for v in volumes
    )


def _without_nulls(node: Any) -> Any:
    """``node`` as the API server decodes it: every null mapping value
    dropped, and strings as Go's JSON decoder leaves them (a surrogate pair
    is one character, a lone surrogate is U+FFFD). The same object when
    nothing changes, which is the common case: orjson writes the object (in
    C) without a ``null`` (nor a surrogate, which it refuses), so nothing
    would change, and no walk is needed."""
    try:
        if b"null" not in orjson.dumps(node):
            return node
    except TypeError:  # a surrogate, a key that is not a string, a huge integer
        pass
    return _walk_without_nulls(node)


def _walk_without_nulls(node: Any) -> Any:
    if isinstance(node, str):
        return node if node.isascii() else _decoded(node)
    if isinstance(node, dict):
        out: dict[str, Any] | None = None
        for key, value in node.items():
            new = _walk_without_nulls(value)
            new_key = _walk_without_nulls(key)
            if new is not value or value is None or new_key is not key:
                if out is None:
                    out = dict(node)
                del out[key]
                if value is not None:
                    out[new_key] = new
        return node if out is None else out
    if isinstance(node, list):
        items = [_walk_without_nulls(v) for v in node]
        return node if all(a is b for a, b in zip(items, node, strict=True)) else items
    return node


def _decoded(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _defaulted(item: Any) -> Any:
    if not isinstance(item, dict) or item.get("imagePullPolicy"):
        return item
    image = item.get("image")
    policy = kubernetes_default_pull_policy(image if isinstance(image, str) else "")
    return {**item, "imagePullPolicy": policy}


def _defaulted_volume(item: Any) -> Any:
    source = item.get("image") if isinstance(item, dict) else None
    if not isinstance(source, dict) or source.get("pullPolicy"):
        return item
    reference = source.get("reference")
    policy = kubernetes_default_pull_policy(reference if isinstance(reference, str) else "")
    return {**item, "image": {**source, "pullPolicy": policy}}


PULL_POLICIES = ("Always", "IfNotPresent", "Never")


def structural_problems(obj: dict[str, Any]) -> list[str]:
    """What makes a workload one the API server would reject before any
    admission webhook sees it: such an object is reported, not evaluated
    (engines would each guess differently about a string where a container
    should be)."""
    path = POD_SPEC_PATHS[str(obj.get("kind"))]
    obj = _without_nulls(obj)
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
            problems.extend(_policy_problem(item.get("imagePullPolicy"), f"{at}.imagePullPolicy"))
    volumes = node.get(VOLUMES)
    where = f"{'.'.join(path)}.{VOLUMES}"
    if volumes is not None and not isinstance(volumes, list):
        problems.append(f"{where}: a list is required")
    for i, item in enumerate(volumes if isinstance(volumes, list) else []):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{at}: a mapping is required")
            continue
        source = item.get("image")
        if source is None:
            continue
        if not isinstance(source, dict):
            problems.append(f"{at}.image: a mapping is required")
            continue
        if not isinstance(item.get("name"), str):
            problems.append(f"{at}.name: a string is required")
        reference = source.get("reference")
        if reference is not None and not isinstance(reference, str):
            problems.append(f"{at}.image.reference: a string is required")
        problems.extend(_policy_problem(source.get("pullPolicy"), f"{at}.image.pullPolicy"))
    return problems


def _policy_problem(policy: Any, at: str) -> list[str]:
    # "" is Go's zero value: defaulted like an absent policy, never refused.
    if policy is None or policy == "" or policy in PULL_POLICIES:
        return []
    return [f"{at}: one of {', '.join(PULL_POLICIES)}"]


def is_workload(obj: Any) -> bool:
    return workload_path(obj) is not None


# --- the request's namespace, as admission sees it -----------------------------


def namespace_of(obj: Mapping[str, Any], default: str) -> str:
    meta = obj.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) and ns else default


NAME_LABEL = "kubernetes.io/metadata.name"


def namespace_labels(ns_obj: Mapping[str, Any], name: str) -> dict[str, str]:
    """Labels of a Namespace, with the ``kubernetes.io/metadata.name`` label
    the API server sets on every namespace to its name, overwriting whatever
    a client sent (``SetDefaults_Namespace``, k8s
    ``pkg/apis/core/v1/defaults.go``): a manifest cannot spoof it."""
    meta = ns_obj.get("metadata")
    raw = meta.get("labels") if isinstance(meta, dict) else None
    labels = {str(k): str(v) for k, v in (raw if isinstance(raw, dict) else {}).items()}
    labels[NAME_LABEL] = name
    return labels


def labelled_namespace(ns_obj: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The Namespace object as admission sees it: with its name label."""
    meta = ns_obj.get("metadata")
    out = dict(ns_obj)
    out["metadata"] = {
        **(meta if isinstance(meta, dict) else {}),
        "labels": namespace_labels(ns_obj, name),
    }
    return out
