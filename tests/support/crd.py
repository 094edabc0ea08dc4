"""Validate objects against a CustomResourceDefinition's schema as the API
server does with strict field validation: unknown fields are errors unless
the schema preserves them, required fields must be there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_validator(path: Path, version: str) -> tuple[str, str, jsonschema.Validator]:
    """(apiVersion, kind, validator) for one served version of a CRD."""
    crd = yaml.safe_load(path.read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = _strict(served["schema"]["openAPIV3Schema"])
    # the API server checks metadata itself: the parts we set
    schema["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": DNS_SUBDOMAIN.pattern, "maxLength": 253},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "additionalProperties": False,
    }
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    api_version = f"{crd['spec']['group']}/{version}"
    schema["properties"]["apiVersion"] = {"const": api_version}
    schema["properties"]["kind"] = {"const": crd["spec"]["names"]["kind"]}
    return api_version, crd["spec"]["names"]["kind"], jsonschema.Draft7Validator(schema)
