"""What CEL can read of an admission policy's activation."""

from __future__ import annotations

import pytest

from policygen.engines._cel_reads import activation_paths


def test_each_root_ref_contributes_its_static_prefix() -> None:
    expressions = [
        'request.namespace.matches("^a$")',  # a method call is not a field
        "has(object.metadata.labels) && object.?spec.?containers.orValue([]).size() > 0",
        'object.metadata.annotations["team"] == "a"',
        "object.metadata.annotations['owner'] == 'b'",  # a single-quoted index ends the prefix
        "namespaceObject.metadata.name.startsWith('t')",
    ]
    assert activation_paths(expressions) == {
        ("request", "namespace"),
        ("object", "metadata", "labels"),
        ("object", "spec", "containers"),
        ("object", "metadata", "annotations"),
        ("namespaceObject", "metadata", "name"),
    }


@pytest.mark.parametrize(
    "expression",
    [
        "object == null",
        "object[variables.key] == 1",
        "object .spec == {}",
        "r'object' == x",
    ],
)
def test_refs_it_cannot_follow_read_the_whole_activation(expression: str) -> None:
    assert activation_paths([expression]) is None


def test_roots_in_strings_comments_and_fields_are_not_refs() -> None:
    expressions = [
        "'object.spec' != \"request\" // object",
        "variables.containers.all(c, c.object == 'x')",
        "'''object''' != request.name",
    ]
    assert activation_paths(expressions) == {("request", "name")}
