"""Hostile objects, one class of admission hole at a time: the model's exact
findings, and every engine's exact verdict and rules, in agreement with it.

Each case names the upstream fact it rests on where the answer could be
argued. Engines are compared as ``policygen scan --engine all`` compares
them (``policygen.agreement``), and each must reach the model's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from policygen import config, model
from policygen.agreement import disagreements, normalised, one_line
from policygen.engines import EvalContext, Evaluator, Review, create, target_of
from policygen.violations import Violation, verdict
from policygen.workloads import namespace_of
from tests.conftest import EXAMPLE, NOW

PINNED = "@sha256:" + "0123456789abcdef" * 4
APP = {
    "name": "app",
    "image": f"harbor.corp.example/team-a/app{PINNED}",
    "imagePullPolicy": "Always",
}
ENGINE_NAMES = ("kyverno", "kyverno-cel", "gatekeeper", "gatekeeper-rego", "vap")


@dataclass(frozen=True)
class Hostile:
    id: str
    obj: dict[str, Any]
    #: the model's findings: (rule, container, action, message)
    expected: list[tuple[str, str, str, str]]
    namespaces: dict[str, Any] = field(default_factory=dict)
    config: str = "example"


def pod(ns: str, *, containers: list[Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns},
        "spec": {"containers": [APP] if containers is None else containers, **spec},
    }


def volume(name: str, reference: str | None, policy: str | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {}
    if reference is not None:
        source["reference"] = reference
    if policy is not None:
        source["pullPolicy"] = policy
    return {"name": name, "image": source}


HEX = "0123456789abcdef" * 4
LONG_PATH = "a" * 250  # a 250-character path component


def configs_text() -> dict[str, str]:
    """Variants of the example config, each opening one more door."""
    base = EXAMPLE.read_text()
    return {
        "example": base,
        # pullPolicy: mutate, for every target
        "mutate": base.replace(
            "      action: deny\n    registries:", "      action: mutate\n    registries:"
        ),
        # a scope selector and a tenant chosen by the name label
        "selectors": base.replace(
            '    namespaces: ["*"]\n',
            '    namespaces: ["*"]\n    namespaceSelector: {matchExpressions: '
            "[{key: policygen.dev/skip, operator: DoesNotExist}]}\n",
        ).replace(
            "  exemptions:\n",
            "    - name: trusted\n"
            "      namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: trusted}}\n"
            "      registries: [harbor.corp.example/trusted]\n"
            "  exemptions:\n",
        ),
        # exemptions whose globs a raw string could match
        "exemptions": base.replace(
            "      ticket: SEC-1234\n",
            "      ticket: SEC-1234\n"
            "    - name: runner\n"
            "      namespaces: [ci]\n"
            '      images: ["ghcr.io/acme/runner@*", "docker.io/library/busybox:*"]\n'
            "      reason: runners\n"
            "      owner: ci@corp.example\n"
            "      expires: 2027-03-31\n",
        ),
    }


def deny(rule: str, who: str, message: str) -> tuple[str, str, str, str]:
    return (rule, who, "deny", message)


def digest_msg(kind: str, who: str, image: str) -> str:
    return f'{kind} "{who}" image "{image}" must be pinned by digest (@sha256:<64 hex>)'


def invalid_msg(kind: str, who: str, image: str) -> str:
    return f'{kind} "{who}" image "{image}" is not a valid image reference'


def registry_msg(kind: str, who: str, image: str, ns: str) -> str:
    return f'{kind} "{who}" image "{image}" is not from a registry allowed in namespace "{ns}"'


def invalid_both(who: str, image: str) -> list[tuple[str, str, str, str]]:
    return [
        deny("digest", who, invalid_msg("container", who, image)),
        deny("registries", who, invalid_msg("container", who, image)),
    ]


def one(image: str, policy: str = "Always", name: str = "c") -> dict[str, Any]:
    return {"name": name, "image": image, "imagePullPolicy": policy}


RUNNER_TRICK = f"ghcr.io/acme/runner@sha256:{HEX}/../../evil/x"
SCRAPER_TRICK = "harbor.corp.example/infra/scraper:27.15/../../../evil/x"
TEAM_A = "harbor.corp.example/team-a/app"


CASES = [
    # Class: image volumes (KEP-4639). Every rule reads them, messages name the volume.
    Hostile(
        "volume-tag-foreign-ifnotpresent",
        pod("team-a", volumes=[volume("tools", "ghcr.io/evil/tools:1.0", "IfNotPresent")]),
        [
            (
                "digest",
                "tools",
                "deny",
                'volume "tools" image "ghcr.io/evil/tools:1.0" must be pinned by digest '
                "(@sha256:<64 hex>)",
            ),
            (
                "pullPolicy",
                "tools",
                "deny",
                'volume "tools" must set pullPolicy: Always, not IfNotPresent',
            ),
            (
                "registries",
                "tools",
                "deny",
                'volume "tools" image "ghcr.io/evil/tools:1.0" is not from a registry '
                'allowed in namespace "team-a"',
            ),
        ],
    ),
    # SetDefaults_Volume: no pullPolicy on a tagged reference is IfNotPresent.
    Hostile(
        "volume-defaulted-ifnotpresent",
        pod("team-a", volumes=[volume("data", f"harbor.corp.example/team-a/data{PINNED}")]),
        [
            (
                "pullPolicy",
                "data",
                "deny",
                'volume "data" must set pullPolicy: Always, not IfNotPresent',
            )
        ],
    ),
    # ... and ":latest" (or no tag) is Always, so only the digest is missing.
    Hostile(
        "volume-latest-defaults-always",
        pod("team-a", volumes=[volume("data", "harbor.corp.example/team-a/data:latest")]),
        [
            (
                "digest",
                "data",
                "deny",
                'volume "data" image "harbor.corp.example/team-a/data:latest" must be pinned '
                "by digest (@sha256:<64 hex>)",
            )
        ],
    ),
    Hostile(
        "volume-in-deployment-template",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "team-b"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [APP | {"image": f"ghcr.io/acme-team-b/app{PINNED}"}],
                        "volumes": [volume("model", f"docker.io/evil/model{PINNED}", "Always")],
                    }
                }
            },
        },
        [
            (
                "registries",
                "model",
                "deny",
                f'volume "model" image "docker.io/evil/model{PINNED}" is not from a registry '
                'allowed in namespace "team-b"',
            )
        ],
    ),
]


MORE = [  # Class: image volumes under mutate: not mutated, so still denied.
    Hostile(
        "mutate-volume-still-denied",
        pod("team-a", volumes=[volume("data", f"{TEAM_A}{PINNED}", "IfNotPresent")]),
        [deny("pullPolicy", "data", 'volume "data" must set pullPolicy: Always, not IfNotPresent')],
        config="mutate",
    ),
    # Class: exemption bypass. The raw text matches the glob, the runtime
    # would read another image; an unparseable image is never exempt.
    Hostile(
        "exemption-raw-glob-runner",
        pod("ci", containers=[one(RUNNER_TRICK)]),
        invalid_both("c", RUNNER_TRICK),
        config="exemptions",
    ),
    Hostile(
        "exemption-raw-glob-scraper",
        pod("logging", containers=[one(SCRAPER_TRICK)]),
        invalid_both("c", SCRAPER_TRICK),
    ),
    # The glob sees the normalised reference: busybox is docker.io/library/busybox.
    Hostile(
        "exemption-matches-normalised-familiar-name",
        pod("ci", containers=[one("busybox:1.36")]),
        [],
        config="exemptions",
    ),
    Hostile(
        "exemption-matches-normalised-legacy-hub",
        pod("ci", containers=[one("index.docker.io/busybox:1.36")]),
        [],
        config="exemptions",
    ),
    # Class: admission-realistic input. "" is Go's zero value: defaulted.
    Hostile(
        "empty-pull-policy-is-defaulted",
        pod("team-a", containers=[one(f"{TEAM_A}:1.0@sha256:{HEX}", "")]),
        [
            deny(
                "pullPolicy",
                "c",
                'container "c" must set imagePullPolicy: Always, not IfNotPresent',
            )
        ],
    ),
    Hostile(
        "empty-pull-policy-latest-is-always",
        pod("team-a", containers=[one(f"{TEAM_A}:latest", "")]),
        [deny("digest", "c", digest_msg("container", "c", f"{TEAM_A}:latest"))],
    ),
    # null lists are absent lists (no engine may fail on them)
    Hostile(
        "null-lists-are-absent",
        pod(
            "team-a",
            containers=[one("ghcr.io/evil/x:1")],
            initContainers=None,
            ephemeralContainers=None,
            volumes=None,
        ),
        [
            deny("digest", "c", digest_msg("container", "c", "ghcr.io/evil/x:1")),
            deny("registries", "c", registry_msg("container", "c", "ghcr.io/evil/x:1", "team-a")),
        ],
    ),
    # The name label is always the Namespace's name: "evil" cannot claim
    # the tenant that selects kubernetes.io/metadata.name=trusted.
    Hostile(
        "namespace-name-label-spoofed",
        pod("evil", containers=[one(f"harbor.corp.example/trusted/app@sha256:{HEX}")]),
        [
            deny(
                "registries",
                "c",
                registry_msg(
                    "container", "c", f"harbor.corp.example/trusted/app@sha256:{HEX}", "evil"
                ),
            )
        ],
        namespaces={
            "evil": {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "evil", "labels": {"kubernetes.io/metadata.name": "trusted"}},
            }
        },
        config="selectors",
    ),
    Hostile(
        "namespace-name-label-genuine",
        pod("trusted", containers=[one(f"harbor.corp.example/trusted/app@sha256:{HEX}")]),
        [],
        namespaces={
            "trusted": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "trusted"}}
        },
        config="selectors",
    ),
    # Excluded (and out-of-scope) namespaces are never evaluated, so never
    # "not known" even when their Namespace object is missing.
    Hostile(
        "excluded-namespace-without-namespace-object",
        pod("kube-system", containers=[one("ghcr.io/evil/x:1", "Never")]),
        [],
        config="selectors",
    ),
    Hostile(
        "excluded-namespace-spoofing-selector",
        pod("kyverno", containers=[one("ghcr.io/evil/x:1", "Never")]),
        [],
        namespaces={
            "kyverno": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kyverno"}}
        },
        config="selectors",
    ),
    # Class: distribution/reference exactly. No trailing-newline acceptance.
    Hostile(
        "trailing-newline",
        pod("team-a", containers=[one(f"{TEAM_A}@sha256:{HEX}\n")]),
        invalid_both("c", f"{TEAM_A}@sha256:{HEX}\n"),
    ),
    # The path is measured normalised, without the domain (reference.go):
    # a 247-character path under a registry is fine (the name is 267) ...
    Hostile(
        "long-path-under-registry-is-valid",
        pod(
            "team-a", containers=[one(f"harbor.corp.example/team-a/{LONG_PATH[:240]}@sha256:{HEX}")]
        ),
        [],
    ),
    # ... a one-segment Docker Hub name gains library/ and goes over 255.
    Hostile(
        "long-hub-name-over-limit",
        pod("team-a", containers=[one(f"{LONG_PATH}@sha256:{HEX}")]),
        invalid_both("c", f"{LONG_PATH}@sha256:{HEX}"),
    ),
    # 64 hex characters alone are an image ID (ParseNormalizedNamed refuses it).
    Hostile(
        "hex-identifier",
        pod("team-a", containers=[one(HEX)]),
        invalid_both("c", HEX),
    ),
    # go-digest: lowercase hex of the algorithm's exact length only.
    Hostile(
        "upper-case-digest-is-no-reference",
        pod("team-a", containers=[one(f"{TEAM_A}@sha256:{HEX.upper()}")]),
        invalid_both("c", f"{TEAM_A}@sha256:{HEX.upper()}"),
    ),
    Hostile(
        "unregistered-digest-algorithm",
        pod("team-a", containers=[one(f"{TEAM_A}@md5:{HEX}")]),
        invalid_both("c", f"{TEAM_A}@md5:{HEX}"),
    ),
    # sha384 is a valid reference (Kubernetes registers it), not an allowed pin.
    Hostile(
        "sha384-valid-but-not-allowed",
        pod("team-a", containers=[one(f"{TEAM_A}@sha384:{'ab' * 48}")]),
        [deny("digest", "c", digest_msg("container", "c", f"{TEAM_A}@sha384:{'ab' * 48}"))],
    ),
    # Class: strings the CEL binding would cut at NUL.
    Hostile(
        "nul-after-a-pinned-image",
        pod("team-a", containers=[one(f"{TEAM_A}@sha256:{HEX}\x00evil")]),
        invalid_both("c", f"{TEAM_A}@sha256:{HEX}\x00evil"),
    ),
    # A lone surrogate is no UTF-8: the API server's JSON decoder makes it
    # U+FFFD, and that is what every engine must see (the CEL binding
    # refused the string, OPA's input failed).
    Hostile(
        "lone-surrogate-after-a-pinned-image",
        pod("team-a", containers=[one(f"{TEAM_A}@sha256:{HEX}\ud800")]),
        invalid_both("c", f"{TEAM_A}@sha256:{HEX}\ufffd"),
    ),
    Hostile(
        "nul-in-volume-reference",
        pod("team-a", volumes=[volume("v", f"{TEAM_A}@sha256:{HEX}\x00:x", "Always")]),
        [
            deny("digest", "v", invalid_msg("volume", "v", f"{TEAM_A}@sha256:{HEX}\x00:x")),
            deny("registries", "v", invalid_msg("volume", "v", f"{TEAM_A}@sha256:{HEX}\x00:x")),
        ],
    ),
]
CASES += MORE


@pytest.fixture(scope="module")
def configs() -> dict[str, config.Config]:
    return {
        name: config.parse(text, f"{name}.yaml", today=NOW) for name, text in configs_text().items()
    }


@pytest.fixture(scope="module")
def engines() -> dict[str, Evaluator]:
    return {name: create(name) for name in ENGINE_NAMES}


def _evaluate(engine: Evaluator, cfg: config.Config, case: Hostile) -> list[Violation]:
    ctx = EvalContext(NOW, case.namespaces)
    return engine.evaluate(cfg, [Review(case.obj, namespace_of(case.obj, "default"))], ctx)[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_model_findings_are_exact(configs: dict[str, config.Config], case: Hostile) -> None:
    found = model.evaluate(
        configs[case.config], case.obj, model.Context(now=NOW, namespaces=case.namespaces)
    )
    assert [(v.rule, v.container, v.action, v.message) for v in found] == sorted(case.expected)


def _renderable() -> list[tuple[Hostile, str]]:
    """Each case with each engine whose target the config selects."""
    targets = {
        name: config.parse(text, f"{name}.yaml", today=NOW).spec.targets
        for name, text in configs_text().items()
    }
    return [(c, e) for c in CASES for e in ENGINE_NAMES if target_of(e) in targets[c.config]]


@pytest.mark.parametrize(
    ("case", "engine_name"), _renderable(), ids=lambda x: x if isinstance(x, str) else x.id
)
def test_every_engine_reaches_the_model_verdict(
    configs: dict[str, config.Config],
    engines: dict[str, Evaluator],
    case: Hostile,
    engine_name: str,
) -> None:
    cfg = configs[case.config]
    engine = engines[engine_name]
    want = model.evaluate(cfg, case.obj, model.Context(now=NOW, namespaces=case.namespaces))
    got = _evaluate(engine, cfg, case)
    assert verdict(got) == verdict(want)
    assert {(v.rule, v.action) for v in got} == {(r, a) for r, _, a, _ in case.expected}
    # every message an engine gives is one of the model's, word for word
    assert {normalised(v).message for v in got} <= {one_line(m) for _, _, _, m in case.expected}
    known = namespace_of(case.obj, "default") in case.namespaces
    assert disagreements(want, got, per_rule=engine.per_rule, namespace_known=known) == []
