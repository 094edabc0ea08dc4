"""Workloads as the API server hands them to admission."""

from __future__ import annotations

from typing import Any

from policygen.workloads import with_api_defaults


def deployment(**container: Any) -> dict[str, Any]:
    spec = {"containers": [{"name": "a", "image": "x:1", "imagePullPolicy": "Always", **container}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": spec}}}


def test_nothing_to_drop_gives_the_same_object() -> None:
    # "null" in a string is no null: the quick check must not stop there
    obj = deployment(args=["null", "a null"], env=[{"name": "N", "value": "null"}])
    assert with_api_defaults(obj) is obj


def test_nulls_are_dropped_and_lone_surrogates_replaced() -> None:
    obj = deployment(command=None, args=["\ud800x"], workingDir="\ud83d\ude00")
    out = with_api_defaults(obj)
    container = out["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in container
    assert container["args"] == ["\ufffdx"]
    assert container["workingDir"] == "\U0001f600"  # a surrogate pair is one character
    assert obj["spec"]["template"]["spec"]["containers"][0]["command"] is None  # input untouched


def test_an_integer_over_64_bits_is_kept() -> None:
    obj = deployment(ports=[{"containerPort": 2**70}])
    assert with_api_defaults(obj) == obj
