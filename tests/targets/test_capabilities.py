"""What each target declares it can express, held against what it renders
and against the config checks that read the declarations."""

from __future__ import annotations

import datetime as dt
import fnmatch
from typing import Any

import pytest
import yaml

from policygen import config, globs
from policygen import versions as versions_
from policygen.engines import EvalContext
from policygen.errors import ConfigError
from policygen.prove import prove_config
from policygen.targets import Capabilities, registry
from tests.conftest import EXAMPLE

NOW = dt.date(2026, 11, 28)
TARGETS = tuple(registry())


def _config(text: str) -> config.Config:
    return config.parse(text, "p.yaml", today=NOW)


def _with(target: str, **changes: str) -> str:
    text = EXAMPLE.read_text().replace("[kyverno, kyverno-cel, gatekeeper, vap]", f"[{target}]")
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _config(text)
    return [f"{p.field}: {p.message}" for p in info.value.problems]


def _kinds(target: str, cfg: config.Config) -> set[tuple[str, str]]:
    files = registry()[target].render(cfg, NOW)
    docs = [d for text in files.values() for d in yaml.safe_load_all(text) if d]
    return {(d["apiVersion"], d["kind"]) for d in docs}


def _declared(caps: Capabilities, kind: tuple[str, str]) -> bool:
    return any(kind[0] == api and fnmatch.fnmatchcase(kind[1], k) for api, k in caps.kinds)


#: the oldest releases under which every target can mutate, and the newest
VERSIONS = {
    "oldest": '  versions: {kubernetes: "1.34", kyverno: "1.15", gatekeeper: "3.14"}\n',
    "newest": "",
}


@pytest.mark.parametrize("versions", list(VERSIONS))
@pytest.mark.parametrize("target", TARGETS)
def test_a_target_emits_only_the_kinds_it_declares(target: str, versions: str) -> None:
    """At either end of the releases ``spec.versions`` may name: what a
    target emits depends on them, what it declares covers both."""
    caps = registry()[target].capabilities
    actions = ["deny", "mutate"] if caps.mutates else ["deny"]
    for action in actions:
        text = _with(
            target,
            **{
                "Always is a central decision.\n      action: deny": f"Always is a central decision.\n      action: {action}"
            },
        )
        text = text.replace("\nspec:\n", "\nspec:\n" + VERSIONS[versions], 1)
        kinds = _kinds(target, _config(text))
        assert [k for k in kinds if not _declared(caps, k)] == []
        # each versioned kind in the apiVersion its release serves
        cfg = _config(text)
        for api, kind in kinds:
            if kind.removesuffix("Binding") in versions_.KINDS:
                assert api == versions_.api_version(cfg, kind.removesuffix("Binding"))


#: How each mutating target's mutation shows in what it renders; a target
#: that starts to mutate says here how its mutation looks.
MUTATION_SIGN = {
    "kyverno": "- name: set-pull-always\n",
    "kyverno-cel": "\nkind: MutatingPolicy\n",
    "gatekeeper": "\nkind: Assign\n",
    "vap": "\nkind: MutatingAdmissionPolicy\n",
}
PULL_DENY = "Always is a central decision.\n      action: deny"


@pytest.mark.parametrize("target", TARGETS)
def test_a_target_mutates_exactly_when_it_declares_so(target: str) -> None:
    caps = registry()[target].capabilities
    mutate = _with(target, **{PULL_DENY: PULL_DENY.replace("deny", "mutate")})
    if not caps.mutates:
        mutating = [n for n, t in registry().items() if t.capabilities.mutates]
        assert _errors(mutate) == [
            f"spec.rules.pullPolicy.action: target {target} cannot mutate "
            f"({caps.no_mutation}): use deny, warn or audit, or the "
            f"{', '.join(mutating[:-1])} or {mutating[-1]} target"
        ]
        assert target not in MUTATION_SIGN
        return
    sign = MUTATION_SIGN[target]
    mutating = "".join(registry()[target].render(_config(mutate), NOW).values())
    denying = "".join(registry()[target].render(_config(_with(target)), NOW).values())
    assert (sign in mutating, sign in denying) == (True, False)


@pytest.mark.parametrize("target", TARGETS)
def test_a_namespace_glob_anywhere_in_a_tenant_or_opt_in_is_expressible(target: str) -> None:
    """``team-a-*-prod`` is a regex inside every target's policy language, so
    every target takes it for tenants, opt-in namespaces and exemptions (vap
    used to refuse it while kyverno-cel, with the same CEL, took it)."""
    text = _with(
        target,
        **{
            "[team-a, team-a-*]": "[team-a, team-a-*-prod, te?m-a-x]",
            "digest:\n      action: deny": "digest:\n      action: deny\n      namespaces: [team-*-prod, logging]",
        },
    )
    cfg = _config(text)
    assert cfg.spec.tenants[0].namespaces == ["team-a", "team-a-*-prod", "te?m-a-x"]


def test_a_scope_glob_is_refused_only_where_the_engine_matcher_cannot_hold_it() -> None:
    for name, target in registry().items():
        text = _with(name, **{'namespaces: ["*"]': 'namespaces: ["team-*-prod"]'})
        if target.capabilities.scope_globs.expressible("team-*-prod"):
            _config(text)
        else:
            assert _errors(text) == [
                f"spec.scope.namespaces[0]: glob 'team-*-prod' cannot be expressed by "
                f"target {name}: use '*' only as prefix or suffix"
            ]
    assert [
        n for n, t in registry().items() if t.capabilities.scope_globs is globs.PREFIX_SUFFIX
    ] == ["gatekeeper"]


def test_inner_globs_agree_with_the_model_where_newly_accepted() -> None:
    """Accepting a glob is only right if the policy then decides as the
    model does. The globs newly accepted are vap's and gatekeeper's tenant
    and opt-in globs: the corpus generated from the config probes each
    tenant's globs and the opt-in namespaces on both engines."""
    text = EXAMPLE.read_text().replace(
        "[kyverno, kyverno-cel, gatekeeper, vap]", "[gatekeeper, vap]"
    )
    for old, new in {
        "[team-a, team-a-*]": "[team-a, team-a-*-prod, te?m-a-x]",
        "digest:\n      action: deny": "digest:\n      action: deny\n      namespaces: [team-*-prod, te?m-b*]",
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    cfg = _config(text)
    proof = prove_config(cfg, EvalContext(NOW), [])
    assert proof.engines == ["model", "gatekeeper", "gatekeeper-rego", "vap"]
    assert [(r.fixture.source, r.problems) for r in proof.failed] == []


def test_a_new_target_is_one_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The config checks, the schema and the engines read a target from the
    registry alone: a stand-in that declares it cannot mutate and holds only
    prefix/suffix globs everywhere is refused accordingly."""
    real = registry()["vap"]

    class Narrow:
        name = "narrow"
        description = "a stand-in"
        capabilities = Capabilities(
            scope_globs=globs.PREFIX_SUFFIX,
            selection_globs=globs.PREFIX_SUFFIX,
            mutates=False,
            no_mutation="no mutation here",
            kinds=(),
        )

        def __getattr__(self, attr: str) -> Any:  # the rest of the Target protocol
            return getattr(real, attr)

        def problems(self, cfg: config.Config) -> list[Any]:
            return []

    real_registry = registry()
    monkeypatch.setattr("policygen.targets.registry", lambda: {**real_registry, "narrow": Narrow()})
    text = _with(
        "narrow",
        **{
            "[team-a, team-a-*]": "[team-a, team-a-*-prod]",
            "Always is a central decision.\n      action: deny": "Always is a central decision.\n      action: mutate",
        },
    )
    assert _errors(text) == [
        "spec.rules.pullPolicy.action: target narrow cannot mutate (no mutation here): "
        "use deny, warn or audit, or the kyverno, kyverno-cel, gatekeeper or vap target",
        "spec.tenants[0].namespaces[1]: glob 'team-a-*-prod' cannot be expressed by target "
        "narrow: use '*' only as prefix or suffix",
    ]
    assert (
        "narrow" in config.json_schema()["$defs"]["Spec"]["properties"]["targets"]["items"]["enum"]
    )
    from policygen.engines import names

    assert names()[-1] == "narrow"


def test_a_new_target_needing_a_versioned_kind_is_one_registry_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A target that renders MutatingAdmissionPolicy for its validation
    declares so, and spec.versions refuses a Kubernetes without it; its
    variant is an evaluator named after it."""
    real = registry()["vap"]

    class Needy:
        name = "needy"
        description = "a stand-in"
        capabilities = Capabilities(
            scope_globs=globs.ANY,
            selection_globs=globs.ANY,
            mutates=True,
            kinds=(),
            needs=("MutatingAdmissionPolicy",),
            variants=("plain",),
        )

        def __getattr__(self, attr: str) -> Any:
            return getattr(real, attr)

        def problems(self, cfg: config.Config) -> list[Any]:
            return []

    real_registry = registry()
    monkeypatch.setattr("policygen.targets.registry", lambda: {**real_registry, "needy": Needy()})
    text = _with("needy").replace("\nspec:\n", '\nspec:\n  versions: {kubernetes: "1.33"}\n', 1)
    assert _errors(text) == [
        "spec.versions.kubernetes: target needy needs MutatingAdmissionPolicy, which "
        "kubernetes 1.33 does not serve (from 1.34)"
    ]
    from policygen.engines import names, target_of

    assert names()[-2:] == ("needy", "needy-plain")
    assert target_of("needy-plain") == "needy"
