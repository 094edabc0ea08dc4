"""Each ConstraintTemplate carries a K8sNativeValidation (CEL) entry beside its
Rego, unless its rule has exemptions (Kubernetes' CEL has no clock to let
them lapse by); both are evaluated offline, each on its own, and held to
the model.

The CEL entry reports a rule's first offending container (one violation per
validation, as Gatekeeper's CEL driver does); the Rego entry reports every
container. Both must give the model's verdicts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from policygen import config, model
from policygen.agreement import disagreements
from policygen.engines import EvalContext, Review
from policygen.engines.gatekeeper import GatekeeperEngine, Request
from policygen.model import namespace_of
from policygen.violations import Violation
from tests import golden
from tests.conftest import NOW
from tests.corpus import case_id, cases
from tests.engines.test_gatekeeper import labels_documents

CEL = GatekeeperEngine("opa")
REGO = GatekeeperEngine("opa", code="rego")
PINNED = "@sha256:" + "ab" * 32


def run(
    engine: GatekeeperEngine,
    cfg: config.Config,
    obj: dict[str, Any],
    namespaces: dict[str, Any] | None = None,
) -> list[Violation]:
    ctx = EvalContext(NOW, namespaces or {})
    return engine.evaluate(cfg, [Review(obj, namespace_of(obj, "default"))], ctx)[0]


def pod(ns: str, *containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns},
        "spec": {"containers": list(containers)},
    }


@pytest.fixture
def clockless(example: config.Config) -> config.Config:
    """The example without its exemptions: every template carries CEL."""
    return example.model_copy(update={"spec": example.spec.model_copy(update={"exemptions": []})})


def test_a_template_is_evaluated_by_its_cel_unless_its_rule_has_exemptions(
    example: config.Config, clockless: config.Config
) -> None:
    def by_engine(cfg: config.Config) -> dict[str, str]:
        policies = CEL.policy_set(cfg, EvalContext(NOW, {}))
        return {t.rule: t.engine for t in policies.templates.values()}

    assert by_engine(clockless) == {"digest": "cel", "pullPolicy": "cel", "registries": "cel"}
    # the example exempts an image from digest: that template is Rego only
    assert by_engine(example) == {"digest": "opa", "pullPolicy": "cel", "registries": "cel"}
    assert REGO.policy_set(example, EvalContext(NOW, {})).engines == ["opa"]


@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_corpus_cel_entries_agree_with_model(clockless: config.Config, case: Any) -> None:
    expected = model.evaluate(clockless, case.obj, model.Context(now=NOW, namespaces={}))
    assert disagreements(expected, run(CEL, clockless, case.obj), per_rule=True) == []


def test_cel_names_the_first_offender_where_rego_names_each(clockless: config.Config) -> None:
    obj = pod(
        "team-a",
        {"name": "web", "image": "harbor.corp.example/team-a/web:1", "imagePullPolicy": "Always"},
        {"name": "side", "image": "docker.io/evil/side:2", "imagePullPolicy": "Always"},
    )
    assert run(CEL, clockless, obj) == [
        Violation(
            "digest",
            "",
            "",
            'container "web" image "harbor.corp.example/team-a/web:1" must be pinned by digest '
            "(@sha256:<64 hex>)",
            "deny",
        ),
        Violation(
            "registries",
            "",
            "",
            'container "side" image "docker.io/evil/side:2" is not from a registry allowed in '
            'namespace "team-a"',
            "deny",
        ),
    ]
    assert [(v.rule, v.container) for v in run(REGO, clockless, obj)] == [
        ("digest", "side"),
        ("digest", "web"),
        ("registries", "side"),
    ]


def test_each_entry_honours_exemptions_and_tenants(example: config.Config) -> None:
    scraper = pod(
        "logging",
        {
            "name": "s",
            "image": "harbor.corp.example/infra/scraper:27.15",
            "imagePullPolicy": "Always",
        },
    )
    other_tenant = pod("team-b", {"name": "a", "image": "harbor.corp.example/team-a/a" + PINNED})
    for engine in (CEL, REGO):
        assert run(engine, example, scraper) == []
        assert [(v.rule, v.action) for v in run(engine, example, other_tenant)] == [
            ("pullPolicy", "deny"),
            ("registries", "deny"),
        ]


def test_an_exemption_lapses_in_both_modes_after_its_expires_date(example: config.Config) -> None:
    """The example's exemption ends with 2027-03-31: a CEL entry for the
    digest rule, which Gatekeeper would run before the Rego, could not see
    that (no clock in Kubernetes' CEL) and would still admit the tag."""
    scraper = pod(
        "logging",
        {
            "name": "s",
            "image": "harbor.corp.example/infra/scraper:27.15",
            "imagePullPolicy": "Always",
        },
    )
    after = dt.datetime(2027, 4, 1, tzinfo=dt.UTC)
    for engine in (CEL, REGO):
        found = engine.evaluate(example, [Review(scraper, "logging")], EvalContext(after, {}))[0]
        assert [(v.rule, v.message) for v in found] == [
            (
                "digest",
                'container "s" image "harbor.corp.example/infra/scraper:27.15" must be pinned '
                "by digest (@sha256:<64 hex>)",
            )
        ]


def test_an_invalid_image_is_named_so_by_both_rules(clockless: config.Config) -> None:
    obj = pod("team-a", {"name": "x", "image": "nginx@sha256:abc", "imagePullPolicy": "Always"})
    message = 'container "x" image "nginx@sha256:abc" is not a valid image reference'
    assert run(CEL, clockless, obj) == [
        Violation("digest", "", "", message, "deny"),
        Violation("registries", "", "", message, "deny"),
    ]


SELECTORS = config.load(golden.cases()["versions-newest"], today=NOW)
GREEN = {"green-1": {"metadata": {"name": "green-1", "labels": {"tenant": "green"}}}}


def test_cel_reads_tenant_labels_from_the_namespace_object() -> None:
    obj = pod("green-1", {"name": "a", "image": "harbor.example/green/a" + PINNED})
    obj["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    assert run(CEL, SELECTORS, obj, GREEN) == []
    stranger = pod("green-1", {"name": "a", "image": "ghcr.io/blue/a" + PINNED})
    stranger["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    assert run(CEL, SELECTORS, stranger, GREEN) == [
        Violation(
            "registries",
            "",
            "",
            'container "a" image "ghcr.io/blue/a' + PINNED + '" is not from a registry allowed '
            'in namespace "green-1"',
            "deny",
        )
    ]


def test_without_the_namespace_object_cel_says_it_cannot_tell() -> None:
    # gator passes no Namespace: the tenant chosen by labels cannot be decided.
    obj = pod("green-1", {"name": "a", "image": "ghcr.io/blue/a" + PINNED})
    obj["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    policies = CEL.policy_set(SELECTORS, EvalContext(NOW, {}))
    results = policies.review_many([Request(obj, "green-1", None, gator=True)], cluster=False)
    assert [r.msg for r in results[0]] == [
        'namespace "green-1" is not known, so the tenants\' namespaceSelector cannot be '
        "evaluated; include the Namespace object"
    ]


def test_an_unknown_namespace_is_said_even_when_an_invalid_image_comes_first() -> None:
    """The CEL names one container per rule; an invalid image first must not
    hide that the valid one's verdict hangs on the Namespace (found by the
    differential test)."""
    obj = pod(
        "green-1",
        {"name": "bad", "image": "ghcr.io/blue/a@sha256:" + "AB" * 32},
        {"name": "a", "image": "ghcr.io/blue/a" + PINNED},
    )
    policies = CEL.policy_set(SELECTORS, EvalContext(NOW, {}))
    results = policies.review_many([Request(obj, "green-1", None, gator=True)], cluster=False)
    assert [r.msg for r in results[0] if "namespace" in r.msg] == [
        'namespace "green-1" is not known, so the tenants\' namespaceSelector cannot be '
        "evaluated; include the Namespace object"
    ]


def test_a_nul_in_an_image_is_seen_by_the_cel_as_the_rego_sees_it(clockless: config.Config) -> None:
    """The CEL binding cuts strings at NUL: without the stand-in the CEL saw
    ``<pinned>\\x00evil`` as the pinned image and allowed it (fail-open)."""
    image = f"harbor.corp.example/team-a/web{PINNED}\x00evil"
    obj = pod("team-a", {"name": "web", "image": image, "imagePullPolicy": "Always"})
    message = f'container "web" image "{image}" is not a valid image reference'
    assert [(v.rule, v.message) for v in run(CEL, clockless, obj)] == [
        ("digest", message),
        ("registries", message),
    ]
    assert {(v.rule, v.message) for v in run(REGO, clockless, obj)} == {
        ("digest", message),
        ("registries", message),
    }


def test_a_line_break_in_an_image_is_written_as_backslash_n_by_the_cel(
    clockless: config.Config,
) -> None:
    """The API server drops a CEL message holding a line break; the CEL
    writes it as ``\\n`` where the Rego quotes the image as it is."""
    image = f"harbor.corp.example/team-a/web{PINNED}\n"
    obj = pod("team-a", {"name": "web", "image": image, "imagePullPolicy": "Always"})
    message = 'container "web" image "{}" is not a valid image reference'
    assert [(v.rule, v.message) for v in run(CEL, clockless, obj)] == [
        ("digest", message.format(image.replace("\n", "\\n"))),
        ("registries", message.format(image.replace("\n", "\\n"))),
    ]
    assert {v.message for v in run(REGO, clockless, obj)} == {message.format(image)}
    want = model.evaluate(clockless, obj, model.Context(now=NOW, namespaces={}))
    assert disagreements(want, run(CEL, clockless, obj), per_rule=True) == []


@pytest.mark.parametrize("open_end", ["head", "tail"])
def test_cel_finds_tenants_through_the_constraints_indexes(open_end: str) -> None:
    """The index test's namespaces (each way a glob or selector is filed),
    an image of every tenant in each: the CEL's verdict per rule is the
    model's, unknown namespace included."""
    from tests.targets.test_tenant_index import LABELS, TENANTS, _namespace, index_config

    INDEX_NAMESPACES = {ns: _namespace(ns, labels) for ns, labels in LABELS.items()}
    INDEX_TENANTS = TENANTS
    cfg = index_config(open_end)
    policies = CEL.policy_set(cfg, EvalContext(NOW, INDEX_NAMESPACES))
    assert {t.rule: t.engine for t in policies.templates.values()} == {"registries": "cel"}
    for ns in [*INDEX_NAMESPACES, "unknown-ns"]:
        known = ns in INDEX_NAMESPACES
        for t in ["shared", *INDEX_TENANTS]:
            image = "registry.k8s.io/x:1" if t == "shared" else f"r.example/{t}/app:1"
            obj = pod(ns, {"name": t, "image": image})
            want = model.evaluate(cfg, obj, model.Context(now=NOW, namespaces=INDEX_NAMESPACES))
            got = run(CEL, cfg, obj, INDEX_NAMESPACES)
            assert disagreements(want, got, per_rule=True, namespace_known=known) == [], (ns, t)
        every = pod(ns, *({"name": t, "image": f"r.example/{t}/app:1"} for t in INDEX_TENANTS))
        want = model.evaluate(cfg, every, model.Context(now=NOW, namespaces=INDEX_NAMESPACES))
        got = run(CEL, cfg, every, INDEX_NAMESPACES)
        assert disagreements(want, got, per_rule=True, namespace_known=known) == [], ns


def _cel_labels_docs() -> list[dict[str, Any]]:
    """A CEL-only template of our own: each Pod needs the label the
    Constraint names; the message names the Pod's ``app`` label."""
    code = {
        "validations": [
            {
                "expression": "has(variables.anyObject.metadata.labels) && "
                "variables.params.label in variables.anyObject.metadata.labels",
                "messageExpression": "string(variables.anyObject.metadata.labels.app) + "
                "' lacks ' + variables.params.label + ' on ' + request.operation",
            }
        ]
    }
    return labels_documents({"code": [{"engine": "K8sNativeValidation", "source": code}]})


def test_cel_reviews_equal_in_what_the_entry_reads_are_evaluated_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path keeps a CEL entry's answers by what its expressions
    can read (anyObject as object and oldObject, the operation always):
    Pods differing only in their name share one evaluation, a different
    label, operation or old object gets its own."""
    from policygen.engines import _gatekeeper_cel
    from policygen.engines.gatekeeper import PolicySet

    calls: list[str] = []
    review = _gatekeeper_cel.CelTemplate.review

    def counted(self: Any, doc: Any, params: Any) -> list[str]:
        calls.append(str(doc["operation"]))
        return review(self, doc, params)

    monkeypatch.setattr(_gatekeeper_cel.CelTemplate, "review", counted)
    policies = PolicySet.load(_cel_labels_docs(), "opa")
    assert policies.templates["K8sLabels"].engine == "cel"

    def labelled(name: str, **labels: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}}

    web = [Request(labelled(f"p{i}", app="web"), "ns", None) for i in range(3)]
    answers = policies.review_many([*web, Request(labelled("q", app="db"), "ns", None)])
    assert [[r.msg for r in rs] for rs in answers] == [["web lacks owner on CREATE"]] * 3 + [
        ["db lacks owner on CREATE"]
    ]
    assert calls == ["CREATE", "CREATE"]  # the name is not read; the labels are
    # On DELETE, anyObject is the old object: the same object with another
    # old one is another evaluation.
    same = labelled("p0", app="web")
    deleted = Request(same, "ns", None, "DELETE", old_obj=labelled("p0", app="web"))
    deleted_db = Request(same, "ns", None, "DELETE", old_obj=labelled("p0", app="db"))
    again = policies.review_many([web[0], deleted, deleted_db], cluster=False)
    assert [[r.msg for r in rs] for rs in again] == [
        ["web lacks owner on CREATE"],
        ["web lacks owner on DELETE"],
        ["db lacks owner on DELETE"],
    ]
    assert calls == ["CREATE", "CREATE", "DELETE", "DELETE"]  # web on CREATE: from the memo
    policies.close()


def test_what_a_cel_entry_reads_is_mapped_onto_the_review() -> None:
    from policygen.engines._gatekeeper_cel import review_reads

    assert review_reads(["variables.anyObject.spec.containers.all(c, true)"]) == frozenset(
        {
            ("review", "operation"),
            ("review", "object", "spec", "containers"),
            ("review", "oldObject", "spec", "containers"),
        }
    )
    assert review_reads(
        ["request.namespace == variables.params.x", "has(namespaceObject.a)"]
    ) == frozenset(
        {
            ("review", "operation"),
            ("review", "namespace"),
            ("review", "namespaceObject", "a"),
        }
    )
    assert review_reads(["object[variables.params.k]"]) is None  # not followed: all of it
    assert review_reads(["authorizer.path('x')"]) is None  # not the driver's: all of it


def _chained_source() -> dict[str, Any]:
    """Variables reading the request, the Namespace, the parameters, the
    object (through anyObject) and each other, as the registries entry does."""
    return {
        "variables": [
            {"name": "ns", "expression": "request.namespace"},
            {
                "name": "team",
                "expression": "namespaceObject == null ? '' : "
                "(has(namespaceObject.metadata.labels) && 'team' in namespaceObject.metadata.labels"
                " ? namespaceObject.metadata.labels.team : '')",
            },
            {"name": "owned", "expression": "variables.ns in variables.params.owners"},
            {"name": "images", "expression": "variables.anyObject.spec.containers.map(c, c.image)"},
            {
                "name": "bad",
                "expression": "variables.images.filter(i, !variables.owned || "
                "!i.startsWith(variables.params.prefix + variables.team))",
            },
            {"name": "broken", "expression": "variables.images[5]"},
        ],
        "validations": [
            {
                "expression": "size(variables.bad) == 0",
                "messageExpression": "variables.ns + ': ' + variables.bad.join(', ')",
            },
            {"expression": "size(variables.images) < 3 || variables.broken != ''"},
        ],
    }


def test_cel_variables_are_kept_by_all_they_read() -> None:
    """The variable memo answers every review as a template without it does:
    reviews differ one input at a time (namespace, its labels, parameters,
    the object, the operation and old object behind anyObject, a variable
    that fails)."""
    from policygen.engines._gatekeeper_cel import CelTemplate
    from policygen.memo import Memo

    kept = CelTemplate("K8sX", _chained_source())
    fresh = CelTemplate("K8sX", _chained_source())
    fresh.memo = Memo(0)

    def pod(*images: str) -> dict[str, Any]:
        return {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": i} for i in images]}}

    def ns(team: str | None) -> dict[str, Any] | None:
        return None if team is None else {"metadata": {"labels": {"team": team}}}

    a = {"owners": ["t1", "t2"], "prefix": "r.example/"}
    b = {"owners": ["t2"], "prefix": "r.example/"}
    reviews = [
        ("CREATE", "t1", pod("r.example/a/x"), None, ns("a"), a),
        ("CREATE", "t1", pod("r.example/a/x"), None, ns("b"), a),  # labels differ
        ("CREATE", "t1", pod("r.example/a/x"), None, None, a),  # no Namespace
        ("CREATE", "t2", pod("r.example/a/x"), None, ns("a"), a),  # namespace differs
        ("CREATE", "t1", pod("r.example/a/x"), None, ns("a"), b),  # parameters differ
        ("CREATE", "t1", pod("r.example/b/x"), None, ns("a"), a),  # object differs
        ("CREATE", "t1", pod("x", "y", "z"), None, ns("a"), a),  # broken fails
        ("DELETE", "t1", None, pod("r.example/a/x"), ns("a"), a),  # anyObject: the old one
        ("DELETE", "t1", None, pod("q/x"), ns("a"), a),
        ("UPDATE", "t1", None, pod("q/x"), ns("a"), a),  # the same, but anyObject is null
        ("CREATE", "t1", pod("r.example/a/x"), None, ns("a"), a),  # the first, again
    ]
    seen = []
    for operation, namespace, obj, old, ns_obj, params in reviews:
        doc = {
            "operation": operation,
            "namespace": namespace,
            "object": obj,
            "oldObject": old,
            "namespaceObject": ns_obj,
        }
        got = kept.review(doc, params)
        assert got == fresh.review(doc, params), (operation, namespace, obj, old, ns_obj, params)
        seen.append(got)
    assert len(set(map(tuple, seen))) > 4  # the inputs above do change the answers
    assert 0 < len(kept.memo) < len(reviews) * len(_chained_source()["variables"])


def test_a_variable_reading_variables_as_a_whole_is_never_kept() -> None:
    from policygen.engines._gatekeeper_cel import _variable_reads

    assert _variable_reads("size(variables) > 0") is None
    assert _variable_reads("variables['ns']") is None
    assert _variable_reads("object[variables.k]") is None
    paths, names = _variable_reads("variables.anyObject.spec.x + variables.ns") or ((), ())
    assert paths == frozenset(
        {("object", "spec", "x"), ("oldObject", "spec", "x"), ("request", "operation")}
    )
    assert names == ("ns",)
