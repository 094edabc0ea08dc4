"""Fixtures for ``policygen test``: a built-in corpus generated from the
config, and the user's fixture files with their declared expectations.

The built-in corpus is derived from the config so that it reaches every part
of it: a namespace for each tenant (by glob and by selector, with the
Namespace object), one outside every tenant, an excluded one, the digest
opt-in namespaces, and in each, images from each tenant's and the shared
registries (pinned, tagged, bare), look-alike registries, Docker Hub, weak
and invalid references and exempted images, under each pull policy, in each
container list, in image volumes and in each controller kind.

A user fixture declares what it expects in one annotation, a comma-separated
list of ``rule:container`` (``none`` or empty for no violation)::

    metadata:
      annotations:
        policygen.dev/expect: "digest:app, pullPolicy:init"
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from policygen.config import Config, LabelSelector
from policygen.errors import InputError, Problem
from policygen.manifests import Document, FileProblem, Skipped, read
from policygen.workloads import (
    API_VERSIONS,
    IMAGE_LISTS,
    POD_SPEC_PATHS,
    VOLUMES,
    is_workload,
    structural_problems,
)

EXPECT = "policygen.dev/expect"
KINDS = (
    "Pod",
    "Deployment",
    "CronJob",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "ReplicaSet",
    "ReplicationController",
)
POLICIES: tuple[str | None, ...] = ("Always", "IfNotPresent", None)
DIGEST = {"sha256": "sha256:" + "0123456789abcdef" * 4, "sha512": "sha512:" + "ab" * 64}


@dataclass(frozen=True)
class Fixture:
    source: str
    obj: dict[str, Any]
    expected: frozenset[tuple[str, str]] | None  # (rule, container); None: not declared


def parse_expect(text: str) -> frozenset[tuple[str, str]]:
    items = [i.strip() for i in text.split(",") if i.strip() and i.strip() != "none"]
    out = set()
    for item in items:
        rule, sep, container = item.partition(":")
        if not sep or not rule or not container:
            raise ValueError(f"'{item}' is not rule:container")
        out.add((rule, container))
    return frozenset(out)


def read_fixtures(
    paths: list[str],
) -> tuple[list[Fixture], dict[str, dict[str, Any]], list[FileProblem]]:
    """(workload fixtures, Namespace objects by name, unreadable files)."""
    fixtures: list[Fixture] = []
    namespaces: dict[str, dict[str, Any]] = {}
    problems: list[FileProblem] = []
    bad: list[Problem] = []
    for item in read(paths):
        if isinstance(item, FileProblem):
            problems.append(item)
            continue
        if isinstance(item, Skipped):
            continue  # a fixture folder may hold other YAML (a kustomization)
        _collect(item, fixtures, namespaces, bad)
    if bad:
        raise InputError(bad)
    return fixtures, namespaces, problems


def _collect(
    item: Document,
    fixtures: list[Fixture],
    namespaces: dict[str, dict[str, Any]],
    bad: list[Problem],
) -> None:
    obj = item.obj
    meta = obj.get("metadata") or {}
    if obj.get("kind") == "Namespace" and isinstance(meta.get("name"), str):
        namespaces[meta["name"]] = obj
        return
    if not is_workload(obj):
        return
    problems = structural_problems(obj)
    if problems:
        bad.append(Problem(item.path, item.line, 0, "", "; ".join(problems)))
        return
    note = (meta.get("annotations") or {}).get(EXPECT)
    expected = None
    if note is not None:
        try:
            expected = parse_expect(str(note))
        except ValueError as exc:
            bad.append(Problem(item.path, item.line, 0, f"metadata.annotations.{EXPECT}", str(exc)))
            return
    fixtures.append(Fixture(item.source, obj, expected))


# --- the built-in corpus --------------------------------------------------------


def example_of(glob: str) -> str:
    """A concrete name a glob matches."""
    return glob.replace("*", "x").replace("?", "x")


def labels_for(selector: LabelSelector) -> dict[str, str]:
    """Labels a selector matches (its In values, Exists keys)."""
    labels = dict(selector.matchLabels)
    for req in selector.matchExpressions:
        if req.operator == "In" and req.values:
            labels[req.key] = req.values[0]
        elif req.operator == "Exists":
            labels[req.key] = "x"
    return labels


def _namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def builtin_namespaces(config: Config) -> dict[str, dict[str, Any]]:
    """Namespace objects for the corpus, each one a different situation."""
    spec = config.spec
    scope_labels = labels_for(spec.scope.namespaceSelector)
    out: dict[str, dict[str, Any]] = {}

    def add(name: str, labels: dict[str, str] | None = None) -> None:
        if name not in out:
            out[name] = _namespace(name, {**scope_labels, **(labels or {})})

    for tenant in spec.tenants:
        for glob in tenant.namespaces:
            add(example_of(glob))
        if tenant.namespaceSelector is not None:
            add(f"policygen-{tenant.name}", labels_for(tenant.namespaceSelector))
    scoped = [g for g in spec.scope.namespaces if g != "*"]
    add(example_of(scoped[0]) if scoped else "policygen-shared")
    for glob in spec.rules.digest.namespaces:
        add(example_of(glob))
    for exemption in spec.exemptions:
        for glob in exemption.namespaces:
            add(example_of(glob))
    for glob in spec.scope.excludeNamespaces[:1]:
        add(example_of(glob))
    if not spec.scope.namespaceSelector.empty:
        out["policygen-unselected"] = _namespace("policygen-unselected", {})
    return out


def builtin_images(config: Config) -> list[str]:
    spec = config.spec
    entries = list(spec.rules.registries.allowed) + [r for t in spec.tenants for r in t.registries]
    digest = DIGEST[spec.rules.digest.algorithms[0]]
    images: list[str] = []
    for entry in entries:
        images += [f"{entry}/app@{digest}", f"{entry}/app:1.0", f"{entry}/app"]
        images.append(f"{entry}-lookalike/app@{digest}")  # same prefix, not the same path
    images += [
        f"nginx@{digest}",
        "nginx:latest",
        f"index.docker.io/library/nginx@{digest}",
        "Not An Image",
        "",
        f"{entries[0] if entries else 'registry.example'}/app@sha256:abc",
        f"{entries[0] if entries else 'registry.example'}/app@{DIGEST['sha512']}",
        f"{entries[0].upper() if entries else 'REGISTRY.example'}/app@{digest}",
    ]
    for exemption in spec.exemptions:
        images += [example_of(glob) for glob in exemption.images]
    return list(dict.fromkeys(images))


def builtin_corpus(config: Config) -> tuple[list[Fixture], dict[str, dict[str, Any]]]:
    """Workloads crossing namespaces × images × pull policies; kinds and
    container lists rotate so that each appears across the corpus."""
    namespaces = builtin_namespaces(config)
    images = builtin_images(config)
    fixtures = []
    rotation = itertools.count()
    for ns in [*namespaces, "policygen-unknown"]:
        for j, image in enumerate(images):
            for policy in POLICIES:
                n = next(rotation)
                name = f"{ns}-i{j}-{(policy or 'unset').lower()}"
                fixtures.append(
                    Fixture(f"builtin:{name}", _workload(name, ns, image, policy, n), None)
                )
    return fixtures, namespaces


def _image_volume(name: str, image: str, policy: str | None) -> dict[str, Any]:
    source = {"reference": image}
    if policy is not None:
        source["pullPolicy"] = policy
    return {"name": name, "image": source}


def _workload(name: str, ns: str, image: str, policy: str | None, n: int) -> dict[str, Any]:
    kind = KINDS[n % len(KINDS)]
    container: dict[str, Any] = {"name": "c", "image": image}
    if policy is not None:
        container["imagePullPolicy"] = policy
    spec: dict[str, Any] = {
        "containers": [{"name": "main", "image": image, "imagePullPolicy": "Always"}]
    }
    if kind == "Pod":
        listed = IMAGE_LISTS[(n // len(KINDS)) % len(IMAGE_LISTS)]
        if listed == "containers":
            spec = {"containers": [container]}
        elif listed == VOLUMES:
            spec[VOLUMES] = [_image_volume("c", image, policy)]
        else:
            spec[listed] = [container]
    else:
        spec = {"containers": [container]}
        if (n // len(KINDS)) % 2:
            spec["initContainers"] = [{**container, "name": "init"}]
        if (n // len(KINDS)) % 3 == 1:
            spec[VOLUMES] = [_image_volume("vol", image, policy)]
    obj: dict[str, Any] = {
        "apiVersion": API_VERSIONS[kind],
        "kind": kind,
        "metadata": {"name": name[:63], "namespace": ns},
    }
    node: dict[str, Any] = obj
    path = POD_SPEC_PATHS[kind]
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = spec
    return obj
