"""Differential test: for generated configs and workloads, every evaluator
agrees with the reference model.

Configs vary tenants (by glob and by selector), registries with ports and
paths, shared entries, scope with exclusions and a selector, every action
of every rule, digest algorithms and opt-in namespaces, and exemptions.
Workloads vary every controller kind, all three container lists, hostile
image strings, and absent or present pull policies; Namespace objects are
present or not. The CI run is bounded (see ``EXAMPLES``); a long run is
``pytest tests/test_differential.py --hypothesis-profile=long``.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from policygen import config, model
from policygen.agreement import disagreements
from policygen.engines import EvalContext, Review, create
from policygen.errors import ConfigError
from policygen.workloads import API_VERSIONS, POD_SPEC_PATHS, namespace_of
from tests.conftest import NOW

# 30 examples in CI; under --hypothesis-profile=long, that profile's count.
EXAMPLES = 30 if settings.default.max_examples <= 100 else settings.default.max_examples
HOSTS = ["reg.example", "reg.example:5000", "ghcr.io", "localhost:5000"]
SHARED = ["registry.k8s.io/pause", "docker.io/library", "shared.example/base"]
DIGESTS = {
    "sha256": "sha256:" + "0123456789abcdef" * 4,
    "sha512": "sha512:" + "ab" * 64,
    "short": "sha256:abc",
    "upper": "sha256:" + "0123456789ABCDEF" * 4,
}
NAMESPACES = ["t0", "t0-a", "t1", "t1-b", "t2", "shared", "kube-system", "sel-x", "unknown-ns"]
# Every engine twice: the fast path (the reuse layer, the engines' memos and
# worker processes) and the plain one, each against the model.
ENGINES = [
    create("model"),
    *(
        create(name, rego_engine="opa", fast=fast)
        for fast in (True, False)
        # gatekeeper: each template's CEL entry; gatekeeper-rego: its Rego entry
        for name in ("kyverno", "kyverno-cel", "gatekeeper", "gatekeeper-rego", "vap")
    ),
]


@st.composite
def configs(draw: st.DrawFn) -> config.Config:
    tenants = []
    for i in range(draw(st.integers(0, 3))):
        tenant: dict[str, Any] = {
            "name": f"t{i}",
            "registries": draw(
                st.lists(
                    st.sampled_from(
                        [f"{h}/t{i}" for h in HOSTS] + [f"{h}/t{i}/sub" for h in HOSTS]
                    ),
                    min_size=1,
                    max_size=2,
                    unique=True,
                )
            ),
        }
        how = draw(st.sampled_from(["glob", "selector", "both"]))
        if how in ("glob", "both"):
            tenant["namespaces"] = [f"t{i}", f"t{i}-*"]
        if how in ("selector", "both"):
            tenant["namespaceSelector"] = {"matchLabels": {"tenant": f"t{i}"}}
        tenants.append(tenant)
    scope: dict[str, Any] = {
        "namespaces": draw(st.sampled_from([["*"], ["t*", "shared", "sel-*"]])),
        "excludeNamespaces": draw(st.sampled_from([[], ["kube-system"], ["kube-*", "t1-*"]])),
    }
    if draw(st.booleans()):
        scope["namespaceSelector"] = {
            "matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]
        }
    validate = st.sampled_from(["deny", "warn", "audit", "off"])
    rules = {
        "digest": {
            "action": draw(validate),
            "algorithms": draw(st.sampled_from([["sha256"], ["sha512"], ["sha256", "sha512"]])),
            "namespaces": draw(st.sampled_from([[], ["t0", "shared"]])),
        },
        "pullPolicy": {"action": draw(st.sampled_from(["deny", "warn", "audit", "mutate", "off"]))},
        "registries": {
            "action": draw(validate),
            "allowed": draw(st.lists(st.sampled_from(SHARED), max_size=2, unique=True)),
        },
    }
    exemptions = [
        {
            "name": f"e{i}",
            "rules": draw(
                st.lists(
                    st.sampled_from(["digest", "pullPolicy", "registries"]), min_size=1, unique=True
                )
            ),
            "namespaces": draw(st.sampled_from([["*"], ["t0"], ["shared", "t1-*"]])),
            "images": draw(
                st.sampled_from([["*"], ["reg.example/t0/*"], ["docker.io/library/nginx:*"]])
            ),
            "reason": "generated",
            "owner": "test@example.com",
            "expires": "2027-01-31",
        }
        for i in range(draw(st.integers(0, 2)))
    ]
    doc = {
        "apiVersion": "policygen.dev/v1alpha1",
        "kind": "ImagePolicyConfig",
        "metadata": {"name": "gen"},
        "spec": {
            "targets": ["kyverno", "gatekeeper"],
            "scope": scope,
            "rules": rules,
            "tenants": tenants,
            "exemptions": exemptions,
        },
    }
    try:
        return config.parse(yaml.safe_dump(doc), "generated.yaml", today=NOW)
    except ConfigError:
        assume(False)
        raise


def images() -> st.SearchStrategy[str]:
    names = st.sampled_from(
        [f"{h}/t{i}/app" for h in HOSTS for i in range(3)]
        + [
            "nginx",
            "library/nginx",
            "docker.io/library/nginx",
            "index.docker.io/nginx",
            "registry.k8s.io/pause",
        ]
        + [
            "reg.example/t0-evil/app",
            "reg.example.evil.io/t0/app",
            "REG.example/t0/app",
            "shared.example/base/x",
        ]
    )
    tags = st.sampled_from(["", ":1.0", ":latest", ":Tag_1"])
    digests = st.sampled_from(["", *(f"@{d}" for d in DIGESTS.values())])
    composed = st.builds(lambda n, t, d: n + t + d, names, tags, digests)
    hostile = st.sampled_from(
        ["", " ", "Not An Image", "nginx:", "@sha256:abc", "a//b", "reg.example/t0/app:1.0 "]
    )
    return st.one_of(composed, composed, hostile)


def container(name: str) -> st.SearchStrategy[dict[str, Any]]:
    policies = st.sampled_from([None, "Always", "IfNotPresent", "Never"])
    return st.builds(
        lambda image, policy: {
            "name": name,
            "image": image,
            **({"imagePullPolicy": policy} if policy else {}),
        },
        images(),
        policies,
    )


@st.composite
def workloads(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    kind = draw(st.sampled_from(list(POD_SPEC_PATHS)))
    spec: dict[str, Any] = {
        "containers": [draw(container(f"c{i}")) for i in range(draw(st.integers(1, 2)))]
    }
    if draw(st.booleans()):
        spec["initContainers"] = [draw(container("init"))]
    if kind == "Pod" and draw(st.booleans()):
        spec["ephemeralContainers"] = [draw(container("debug"))]
    ns = draw(st.sampled_from(NAMESPACES))
    obj: dict[str, Any] = {
        "apiVersion": API_VERSIONS[kind],
        "kind": kind,
        "metadata": {"name": "w", "namespace": ns},
    }
    node = obj
    path = POD_SPEC_PATHS[kind]
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = spec
    namespaces = {}
    if ns != "unknown-ns":
        labels = draw(st.sampled_from([{}, {"tenant": "t0"}, {"tenant": "t1"}, {"skip": "yes"}]))
        namespaces[ns] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": labels},
        }
    return obj, namespaces


@settings(
    max_examples=EXAMPLES, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow]
)
@given(cfg=configs(), cases=st.lists(workloads(), min_size=1, max_size=4))
def test_every_evaluator_agrees_with_the_model(
    cfg: config.Config, cases: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    for obj, namespaces in cases:
        review = Review(obj, namespace_of(obj, "default"))
        ctx = EvalContext(NOW, namespaces)
        expected = model.evaluate(cfg, obj, model.Context(now=NOW, namespaces=namespaces))
        for engine in ENGINES[1:]:
            fast = getattr(engine, "fast", True)
            path = (engine.name, "fast" if fast else "plain")
            got = engine.evaluate(cfg, [review], ctx)[0]
            if fast:  # asked again, the answer comes from the reuse layer's memo
                assert engine.evaluate(cfg, [review], ctx)[0] == got, path
            known = review.namespace in namespaces
            assert (
                disagreements(expected, got, per_rule=engine.per_rule, namespace_known=known) == []
            ), (
                path,
                obj,
                namespaces,
            )
