"""Scanning streams, and still sees Namespaces that come after their objects."""

from __future__ import annotations

from pathlib import Path

import yaml

from policygen import config
from policygen.agreement import is_unknown_namespace
from policygen.engines import EvalContext, create
from policygen.manifests import FileProblem
from policygen.scan import ObjectResult, scan
from tests import golden
from tests.conftest import NOW


def write(path: Path, *docs: dict) -> str:
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "prod-a"},
    "spec": {"containers": [{"name": "a", "image": "ghcr.io/blue/a:1"}]},
}
NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "prod-a", "labels": {"tenant": "red"}},
}


def results(cfg: config.Config, paths: list[str], **kw: object) -> list[ObjectResult]:
    items = list(scan(cfg, paths, [create("model"), create("kyverno")], EvalContext(NOW), **kw))  # type: ignore[arg-type]
    return [i for i in items if isinstance(i, ObjectResult)]


def test_a_namespace_after_its_objects_is_still_used(tmp_path: Path) -> None:
    cfg = config.load(golden.cases()["mutate-selectors"], today=NOW)
    pods = write(
        tmp_path / "pods.yaml", POD, {**POD, "metadata": {"name": "q", "namespace": "prod-a"}}
    )
    ns = write(tmp_path / "ns.yaml", NAMESPACE)
    (first, second) = results(cfg, [pods, ns], chunk=1)
    # tenant red's registries apply: ghcr.io/blue is not among them
    assert [v.rule for v in first.by_engine["model"]] == ["registries"]
    assert first.disagreements == {}
    assert second.name == "q"


def test_without_the_namespace_the_scope_is_reported(tmp_path: Path) -> None:
    cfg = config.load(golden.cases()["mutate-selectors"], today=NOW)
    (only,) = results(cfg, [write(tmp_path / "pods.yaml", POD)])
    assert {v.rule for v in only.by_engine["model"]} == {"scope"}
    # Kyverno cannot match any rule: each says so
    assert all(is_unknown_namespace(v) for v in only.by_engine["kyverno"])
    assert {v.rule for v in only.by_engine["kyverno"]} == {"digest", "pullPolicy", "registries"}
    assert only.disagreements == {}


def test_default_namespace_and_order_without_selectors(
    tmp_path: Path, example: config.Config
) -> None:
    docs = [{**POD, "metadata": {"name": f"p{i}"}} for i in range(5)]
    got = results(
        example, [write(tmp_path / "pods.yaml", *docs)], default_namespace="team-a", chunk=2
    )
    assert [(r.name, r.namespace) for r in got] == [(f"p{i}", "team-a") for i in range(5)]


def test_problems_do_not_stop_the_scan(tmp_path: Path, example: config.Config) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(POD) + "---\n[1, 2\n")
    items = list(scan(example, [str(path)], [create("model")], EvalContext(NOW)))
    assert [type(i).__name__ for i in items] == ["FileProblem", "ObjectResult"]
    assert isinstance(items[0], FileProblem) and "invalid YAML" in items[0].message


def test_objects_the_api_server_would_reject_are_reported_not_evaluated(
    tmp_path: Path, example: config.Config
) -> None:
    bad = [
        {**POD, "spec": {"containers": [{"name": "c", "image": 123}, "text"]}},
        {**POD, "spec": {"containers": "nope"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"template": None},
        },
        {**POD, "spec": {"containers": [{"name": "c", "image": "nginx", "imagePullPolicy": 7}]}},
    ]
    items = list(
        scan(
            example, [write(tmp_path / "bad.yaml", *bad, POD)], [create("model")], EvalContext(NOW)
        )
    )
    problems = [i.message for i in items if isinstance(i, FileProblem)]
    assert problems == [
        "Pod p: spec.containers[0].image: a string is required; spec.containers[1]: a mapping is required (the API server would reject it; not evaluated)",
        "Pod p: spec.containers: a list is required (the API server would reject it; not evaluated)",
        "Deployment d: spec.template: a mapping is required (the API server would reject it; not evaluated)",
        "Pod p: spec.containers[0].imagePullPolicy: one of Always, IfNotPresent, Never (the API server would reject it; not evaluated)",
    ]
    assert [type(i).__name__ for i in items].count("ObjectResult") == 1


def test_a_bundle_in_the_context_is_what_gets_evaluated(
    tmp_path: Path, example: config.Config
) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: team-a}\n"
        "spec: {containers: [{name: c, image: nginx}]}\n"
    )
    bundle = tmp_path / "bundle"
    (bundle / "kyverno").mkdir(parents=True)  # a bundle with no Kyverno policy in it
    engine = [create("kyverno")]
    rendered = list(scan(example, [str(manifest)], engine, EvalContext(NOW)))
    built = list(scan(example, [str(manifest)], engine, EvalContext(NOW, bundle=bundle)))
    assert [r.verdict for r in rendered if isinstance(r, ObjectResult)] == ["deny"]
    assert [r.verdict for r in built if isinstance(r, ObjectResult)] == ["allow"]


def test_an_alias_bomb_is_refused_before_any_engine_sees_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from policygen.cli import app
    from tests.conftest import EXAMPLE
    from tests.test_yamlsafe import bomb

    path = tmp_path / "bomb.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n" + bomb(9))
    args = ["scan", str(path), "--engine", "all", "-c", str(EXAMPLE), "--now", "2026-11-28"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr == (
        f"policygen: {path}:7:26: document contains excessive aliasing (the API server's limit): "
        "4,986 of 5,036 values would come from aliases\n"
    )


def test_what_is_not_a_manifest_is_skipped_with_its_reason(tmp_path: Path) -> None:
    from policygen.manifests import Document, Skipped, read

    path = tmp_path / "mixed.yaml"
    path.write_text(
        "on: {push: {}}\njobs: {}\n"  # a CI workflow
        "---\n- a\n- b\n"  # a list
        "---\njust text\n"
        "---\n"  # an empty document
        "---\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        "---\n" + yaml.safe_dump(POD)
    )
    got = list(read([str(path)]))
    assert got[:4] == [
        Skipped(f"{path}#1", "not-kubernetes"),
        Skipped(f"{path}#2", "not-kubernetes"),
        Skipped(f"{path}#3", "not-kubernetes"),
        Skipped(f"{path}#5", "kustomize", "a kustomize Component"),
    ]
    assert isinstance(got[4], Document) and got[4].source == f"{path}#6"


def test_objects_without_containers_are_counted_not_evaluated(
    tmp_path: Path, example: config.Config
) -> None:
    from policygen.manifests import Skipped

    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    items = list(
        scan(example, [write(tmp_path / "a.yaml", cm, POD)], [create("model")], EvalContext(NOW))
    )
    assert items[0] == Skipped(f"{tmp_path}/a.yaml#1", "not-a-workload", "ConfigMap")
    assert isinstance(items[1], ObjectResult)


def test_what_admission_never_sees_as_written_is_evaluated_as_the_api_server_hands_it(
    tmp_path: Path, example: config.Config
) -> None:
    """``imagePullPolicy: ""`` and ``null`` lists reach no webhook as written:
    the empty policy is defaulted, the null list is absent (Go zero values)."""
    pinned = "harbor.corp.example/team-a/app@sha256:" + "0123456789abcdef" * 4
    docs = [
        {
            **POD,
            "metadata": {"name": "empty-policy", "namespace": "team-a"},
            "spec": {"containers": [{"name": "c", "image": pinned, "imagePullPolicy": ""}]},
        },
        {
            **POD,
            "metadata": {"name": "null-lists", "namespace": "team-a"},
            "spec": {
                "containers": [{"name": "c", "image": pinned, "imagePullPolicy": "Always"}],
                "initContainers": None,
                "volumes": None,
            },
        },
    ]
    engines = [create(n) for n in ("model", "kyverno", "kyverno-cel", "gatekeeper", "vap")]
    items = list(scan(example, [write(tmp_path / "p.yaml", *docs)], engines, EvalContext(NOW)))
    assert [i.message for i in items if isinstance(i, FileProblem)] == []
    found = {i.name: i for i in items if isinstance(i, ObjectResult)}
    assert {
        name: {e: [v.message for v in vs] for e, vs in r.by_engine.items()}
        for name, r in found.items()
    } == {
        "empty-policy": {
            e.name: ['container "c" must set imagePullPolicy: Always, not IfNotPresent']
            for e in engines
        },
        "null-lists": {e.name: [] for e in engines},
    }
    assert all(not r.disagreements for r in found.values())


def test_workloads_are_known_by_api_version_and_kind(
    tmp_path: Path, example: config.Config
) -> None:
    """A custom resource called CronJob is no batch/v1 CronJob, and an API
    version the server no longer serves is no workload either."""
    template = {"spec": {"containers": [{"name": "c", "image": "ghcr.io/evil/x:1"}]}}
    docs = [
        {
            "apiVersion": "example.com/v1",
            "kind": "CronJob",
            "metadata": {"name": "custom", "namespace": "team-a"},
            "spec": {"jobTemplate": {"spec": {"template": template}}},
        },
        {
            "apiVersion": "extensions/v1beta1",
            "kind": "Deployment",
            "metadata": {"name": "old", "namespace": "team-a"},
            "spec": {"template": template},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "job", "namespace": "team-a"},
            "spec": {"template": template},
        },
    ]
    engines = [create(n) for n in ("model", "kyverno", "kyverno-cel", "gatekeeper", "vap")]
    items = list(scan(example, [write(tmp_path / "w.yaml", *docs)], engines, EvalContext(NOW)))
    found = [i for i in items if isinstance(i, ObjectResult)]
    assert [(r.kind, r.name, r.verdict) for r in found] == [("Job", "job", "deny")]
    assert all(not r.disagreements for r in found)


def test_a_spoofed_name_label_is_overwritten(tmp_path: Path) -> None:
    """The API server sets kubernetes.io/metadata.name to the Namespace's
    name whatever the manifest says (SetDefaults_Namespace)."""
    text = (
        golden.cases()["mutate-selectors"]
        .read_text()
        .replace(
            "namespaceSelector: {matchLabels: {tenant: red}}",
            "namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: prod-red}}",
        )
    )
    cfg = config.parse(text, "c.yaml", today=NOW)
    spoofed = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "prod-a", "labels": {"kubernetes.io/metadata.name": "prod-red"}},
    }
    pod = {**POD, "spec": {"containers": [{"name": "a", "image": "ghcr.io/red/a:1"}]}}
    engines = [create("model"), create("kyverno"), create("gatekeeper")]
    items = list(scan(cfg, [write(tmp_path / "s.yaml", spoofed, pod)], engines, EvalContext(NOW)))
    (found,) = [i for i in items if isinstance(i, ObjectResult)]
    assert {e: sorted({v.rule for v in vs}) for e, vs in found.by_engine.items()} == {
        "model": ["registries"],
        "kyverno": ["registries"],
        "gatekeeper": ["registries"],
    }
    assert not found.disagreements
