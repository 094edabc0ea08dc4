"""``policies.kyverno.io`` PolicyExceptions and Kyverno's ``time.now()`` in
the kyverno-cel evaluator, as Kyverno's CEL engine applies them
(pkg/cel/engine/exception.go ``ListExceptions``; vpol/compiler/policy.go
``evaluateWithData``; kyverno/sdk extensions/cel/libs/time)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from policygen.engines.kyverno_cel import ValidatingPolicySet
from policygen.errors import UnsupportedConstruct
from tests.engines.test_gatekeeper import pod
from tests.engines.test_kyverno_cel import PODS, _vpol

UTC = dt.UTC
EXPIRES = "2027-03-31T23:59:59Z"
AT = dt.datetime(2027, 3, 31, 23, 59, 59, tzinfo=UTC)
#: fails for every container whose image is not an allowed image
ONLY_ALLOWED = _vpol(
    {
        "matchConstraints": PODS,
        "validations": [
            {
                "expression": "object.spec.containers.all(c, "
                "exceptions.allowedImages.exists(r, c.image.matches(r)))",
                "messageExpression": "'not allowed: ' + object.spec.containers.filter(c, "
                "!exceptions.allowedImages.exists(r, c.image.matches(r)))"
                ".map(c, c.image).join(', ')",
            }
        ],
    },
    name="only-allowed",
)


def _exception(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "PolicyException",
        "metadata": {"name": name, "namespace": "kyverno"},
        "spec": {"policyRefs": [{"kind": "ValidatingPolicy", "name": "only-allowed"}], **spec},
    }


def _answer(
    exceptions: list[dict[str, Any]],
    images: list[str],
    now: dt.datetime = AT,
    policy: dict[str, Any] = ONLY_ALLOWED,
    namespace: str = "logging",
) -> tuple[str, str]:
    policies = ValidatingPolicySet.load_admission([policy, *exceptions])
    assert isinstance(policies, ValidatingPolicySet)
    policies.now = now
    obj = pod(namespace, *({"name": f"c{i}", "image": i} for i in images))
    [(_, response), *_] = policies.responses(
        obj, namespace, {"metadata": {"name": namespace}}, "CREATE"
    )
    assert response is not None  # the policy itself; autogen copies do not match Pods
    return response.status, response.message


def test_an_exception_with_images_lends_them_to_the_policy() -> None:
    scraper = _exception("scraper", images=["^scraper:.*$"])
    assert _answer([scraper], ["scraper:1"]) == ("pass", "")
    assert _answer([scraper], ["scraper:1", "nginx:1"]) == ("fail", "not allowed: nginx:1")
    # without it the policy sees no allowed image
    assert _answer([], ["scraper:1"]) == ("fail", "not allowed: scraper:1")


def test_the_images_of_every_matching_exception_are_joined() -> None:
    both = [
        _exception("scraper", images=["^scraper:.*$"]),
        _exception("nginx", images=["^nginx:.*$"]),
    ]
    assert _answer(both, ["scraper:1", "nginx:1"]) == ("pass", "")


def test_an_exception_without_images_or_values_skips_the_policy() -> None:
    assert _answer([_exception("all")], ["nginx:1"]) == ("skip", "exception")


def test_an_exception_applies_only_to_the_policies_it_names() -> None:
    other = _exception("other", images=["^scraper:.*$"])
    other["spec"]["policyRefs"] = [{"kind": "ValidatingPolicy", "name": "another"}]
    assert _answer([other], ["scraper:1"]) == ("fail", "not allowed: scraper:1")
    # the kind is part of the reference
    other["spec"]["policyRefs"] = [{"kind": "MutatingPolicy", "name": "only-allowed"}]
    assert _answer([other], ["scraper:1"]) == ("fail", "not allowed: scraper:1")


def test_its_match_conditions_must_all_hold() -> None:
    logging = _exception(
        "logging",
        images=["^scraper:.*$"],
        matchConditions=[
            {"name": "ns", "expression": "request.namespace == 'logging'"},
            {"name": "pod", "expression": "object.kind == 'Pod'"},
        ],
    )
    assert _answer([logging], ["scraper:1"]) == ("pass", "")
    assert _answer([logging], ["scraper:1"], namespace="apps") == (
        "fail",
        "not allowed: scraper:1",
    )


def test_a_condition_that_errs_is_an_error_unless_the_policy_was_already_skipped() -> None:
    broken = _exception(
        "broken", images=["^x$"], matchConditions=[{"name": "x", "expression": "object.nope"}]
    )
    status, message = _answer([broken], ["scraper:1"])
    assert (status, message.split(":")[0]) == (
        "error",
        "PolicyException/kyverno/broken matchCondition x",
    )
    assert _answer([_exception("all"), broken], ["scraper:1"]) == ("skip", "exception")


@pytest.mark.parametrize(
    ("now", "status"),
    [
        (AT - dt.timedelta(seconds=1), "pass"),
        (AT, "pass"),  # IsExpired is time.Now().After(expiresAt): strict
        (AT + dt.timedelta(seconds=1), "fail"),
    ],
)
def test_an_exception_past_its_expires_at_is_not_listed(now: dt.datetime, status: str) -> None:
    scraper = _exception("scraper", images=["^scraper:.*$"], expiresAt=EXPIRES)
    assert _answer([scraper], ["scraper:1"], now)[0] == status


@pytest.mark.parametrize(
    ("now", "status"),
    [(AT, "pass"), (AT + dt.timedelta(seconds=1), "fail"), (AT, "pass")],
)
def test_time_now_reads_the_clock_and_is_never_kept_across_it(
    now: dt.datetime, status: str
) -> None:
    """``time.now()`` is the evaluator's clock, in a policy and in an
    exception's conditions; one policy set asked at several instants
    answers each by its own."""
    live = _exception(
        "live",
        images=["^scraper:.*$"],
        matchConditions=[
            {"name": "not-expired", "expression": f"time.now() <= timestamp('{EXPIRES}')"}
        ],
    )
    assert _answer([live], ["scraper:1"], now)[0] == status
    dated = _vpol(
        {
            "matchConstraints": PODS,
            "validations": [{"expression": f"time.now() <= timestamp('{EXPIRES}')"}],
        }
    )
    policies = ValidatingPolicySet.load_admission([dated])
    assert isinstance(policies, ValidatingPolicySet)
    seen = []
    for moment in (AT, AT + dt.timedelta(seconds=1), AT):
        policies.now = moment
        [(_, response), *_] = policies.responses(
            pod("ns"), "ns", {"metadata": {"name": "ns"}}, "CREATE"
        )
        assert response is not None
        seen.append(response.status)
    assert seen == ["pass", "fail", "pass"]


def _refused(docs: list[dict[str, Any]], where: str) -> None:
    with pytest.raises(
        UnsupportedConstruct, match=f"^unsupported kyverno-cel construct at {where}"
    ):
        ValidatingPolicySet.load_admission(docs)


def test_what_it_does_not_implement_is_refused() -> None:
    _refused(
        [ONLY_ALLOWED, _exception("json", evaluationMode="JSON")],
        r"PolicyException/kyverno/json\.spec\.evaluationMode",
    )
    _refused(
        [ONLY_ALLOWED, _exception("new", matchResources={})],
        r"PolicyException/kyverno/new\.spec\.matchResources",
    )
    ivpol = _exception("ivpol")
    ivpol["spec"]["policyRefs"] = [{"kind": "ImageValidatingPolicy", "name": "x"}]
    _refused([ONLY_ALLOWED, ivpol], r"PolicyException/kyverno/ivpol\.spec\.policyRefs")
    mpol = {
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "MutatingPolicy",
        "metadata": {"name": "m"},
        "spec": {"matchConstraints": PODS, "mutations": []},
    }
    of_mpol = _exception("of-mpol")
    of_mpol["spec"]["policyRefs"] = [{"kind": "MutatingPolicy", "name": "m"}]
    _refused([mpol, of_mpol], "MutatingPolicy/m: PolicyExceptions of a MutatingPolicy")
    truncated = _vpol(
        {
            "matchConstraints": PODS,
            "validations": [{"expression": "time.truncate(time.now(), duration('1h')) != null"}],
        }
    )
    _refused(
        [truncated],
        "ValidatingPolicy/p: Kyverno CEL library time \\(only time.now\\(\\) is implemented\\)",
    )


def test_a_timestamp_passed_between_expressions_is_refused_not_an_error() -> None:
    """The CEL binding gives timestamps out but takes none back into an
    activation, so a variable holding ``time.now()`` read by a validation
    (kyverno/policies block-stale-images) cannot be evaluated faithfully."""
    doc = _vpol(
        {
            "matchConstraints": PODS,
            "variables": [{"name": "cutoff", "expression": "time.now() - duration('1h')"}],
            "validations": [{"expression": "variables.cutoff < time.now()"}],
        }
    )
    policies = ValidatingPolicySet.load_admission([doc])
    assert isinstance(policies, ValidatingPolicySet)
    with pytest.raises(
        UnsupportedConstruct, match="p validations\\[0\\]: a variable holding a timestamp"
    ):
        policies.responses(pod("ns"), "ns", {"metadata": {"name": "ns"}}, "CREATE")
