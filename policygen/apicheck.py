"""Every rendered object checked as a real API server would check it, before
anything is written (issue #21).

- Custom resources (Kyverno, Gatekeeper) against the real CRDs shipped in
  ``policygen/crds/`` as structural schemas: unknown fields rejected (what
  ``kubectl apply``'s strict field validation does), required fields, enums,
  patterns, ``x-kubernetes-preserve-unknown-fields``,
  ``x-kubernetes-int-or-string``, ``x-kubernetes-embedded-resource``,
  ``nullable`` and list-map keys honoured (apiextensions-apiserver
  ``pkg/apiserver/schema``).
- Gatekeeper Constraints against the CRD Gatekeeper generates from their
  template (frameworks ``constraint/pkg/client/crds/schema.go``): its
  ``parameters`` schema, Gatekeeper's match schema, ``enforcementAction``.
- Built-in kinds (ValidatingAdmissionPolicy and its binding, and
  MutatingAdmissionPolicy when one is emitted) with ``kubernetes-validate``
  in strict mode, for the oldest and the newest Kubernetes version we
  support.
- Sizes: each object's compact JSON, which client-side ``kubectl apply``
  stores in an annotation (../shared/notes/kubernetes.md).

A schema failure is policygen's bug (exit 3): the config was valid, so what
we rendered from it must be too. An object too large is the config's size
(exit 2): the message names the object, its size and the limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from policygen.errors import EXIT_BUG, PolicygenError
from policygen.yamlio import load_all_fast

CRD_DIR = Path(__file__).parent / "crds"

#: Kubernetes minor versions whose built-in schemas every object must pass:
#: ValidatingAdmissionPolicy is GA since 1.30; the newest is the newest
#: kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", "1.37")

#: Compact JSON limit per object. Client-side ``kubectl apply`` (and Argo CD's
#: default sync) stores the object in the last-applied annotation, and all
#: annotations together may hold 262,144 bytes; we keep a margin for the
#: object's own annotations and for what tools add.
SIZE_LIMIT = 200 * 1024

#: ObjectMeta fields a client may send (k8s.io/apimachinery ObjectMeta).
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
    }
)
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
TOTAL_ANNOTATION_SIZE = 262_144  # apimachinery objectmeta.go TotalAnnotationSizeLimitB


class InvalidObject(PolicygenError):
    """A rendered object the API server would refuse: policygen's bug."""

    exit_code = EXIT_BUG


class InvalidBundleObject(PolicygenError):
    """An object in a bundle given to us (``--bundle``) the API server would
    refuse: the bundle was edited, or built by another version."""


class ObjectTooLarge(PolicygenError):
    """The config renders an object over a size limit."""


# --- structural schema → JSON Schema -------------------------------------------


def to_jsonschema(node: Mapping[str, Any], *, structural: bool = True) -> dict[str, Any]:
    """A CRD's OpenAPI v3 structural schema as the JSON Schema that accepts
    what the API server accepts with strict field validation.

    ``structural`` is false inside ``anyOf``/``oneOf``/``allOf``/``not``: those
    are value validations only and never decide which fields are known."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {k: to_jsonschema(v, structural=structural) for k, v in value.items()}
        elif key == "items":
            out[key] = to_jsonschema(value, structural=structural)
        elif key == "additionalProperties":
            out[key] = (
                to_jsonschema(value, structural=structural) if isinstance(value, Mapping) else value
            )
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [to_jsonschema(v, structural=False) for v in value]
        elif key == "not":
            out[key] = to_jsonschema(value, structural=False)
        elif key in (
            "type",
            "enum",
            "pattern",
            "required",
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "uniqueItems",
        ):
            out[key] = value
        elif key == "x-kubernetes-validations":
            # No CRD we ship has CEL rules; a new one must not pass unchecked.
            raise NotImplementedError("x-kubernetes-validations (CEL) in a shipped CRD")
        # description, default, format, example, title and the list/map-type
        # markers other than the ones below change no verdict on what we send.
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-list-type") == "map":
        out["x-list-map-keys"] = list(node.get("x-kubernetes-list-map-keys") or [])
    elif node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if structural and _is_object(node):
        props = dict(out.get("properties") or {})
        if node.get("x-kubernetes-embedded-resource"):
            props.setdefault("apiVersion", {"type": "string"})
            props.setdefault("kind", {"type": "string"})
            props["metadata"] = OBJECT_META
            out["properties"] = props
        if (
            not node.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in node
        ):
            # Pruning drops every field the schema does not name; strict field
            # validation reports it instead.
            out["additionalProperties"] = False
    return out


def _is_object(node: Mapping[str, Any]) -> bool:
    return node.get("type") == "object" or "properties" in node


OBJECT_META: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": DNS1123_SUBDOMAIN.pattern},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": False,
}


def _list_map_keys(
    validator: Any, keys: list[str], instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    """``x-kubernetes-list-type: map``: the key fields identify each item."""
    if not isinstance(instance, list):
        return
    seen: set[str] = set()
    for item in instance:
        if not isinstance(item, dict):
            continue
        key = json.dumps([item.get(k) for k in keys])
        if key in seen:
            yield jsonschema.ValidationError(f"duplicate entry for list-map keys {keys}: {key}")
        seen.add(key)


_Validator: Any = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft4Validator, {"x-list-map-keys": _list_map_keys}
)


def root_schema(openapi: Mapping[str, Any]) -> dict[str, Any]:
    """A CRD version's schema for a whole object: apiVersion and kind are
    always allowed, and metadata is ObjectMeta, which the API server
    validates itself whatever the CRD says."""
    schema = to_jsonschema(openapi)
    props = dict(schema.get("properties") or {})
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = OBJECT_META
    schema["properties"] = props
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    return schema


# --- the schemas we know -------------------------------------------------------


#: The custom resource kinds we render → the shipped CRD that defines them.
CRDS = {
    ("kyverno.io/v1", "ClusterPolicy"): "kyverno-v1.19.0/kyverno.io_clusterpolicies.yaml",
    ("kyverno.io/v2", "PolicyException"): "kyverno-v1.19.0/kyverno.io_policyexceptions.yaml",
    # Kyverno 1.19 serves the older versions of its CEL kinds too
    # (v1alpha1 deprecated); spec.versions renders them for older releases.
    **{
        (f"policies.kyverno.io/{version}", kind): f"kyverno-v1.19.0/policies.kyverno.io_{file}.yaml"
        for version in ("v1", "v1beta1", "v1alpha1")
        for kind, file in (
            ("ValidatingPolicy", "validatingpolicies"),
            ("MutatingPolicy", "mutatingpolicies"),
            ("PolicyException", "policyexceptions"),
        )
    },
    ("templates.gatekeeper.sh/v1", "ConstraintTemplate"): (
        "gatekeeper-v3.23.0/constrainttemplate-customresourcedefinition.yaml"
    ),
    ("expansion.gatekeeper.sh/v1alpha1", "ExpansionTemplate"): (
        "gatekeeper-v3.23.0/expansiontemplate-customresourcedefinition.yaml"
    ),
    ("mutations.gatekeeper.sh/v1", "Assign"): (
        "gatekeeper-v3.23.0/assign-customresourcedefinition.yaml"
    ),
}


def _load_yaml(path: Path) -> Any:
    # The CRDs are large (the ClusterPolicy one is 1.4 MB): yaml-rs reads
    # them ten times faster than libyaml with PyYAML's constructor (0.03 s
    # against 0.3 s), which every build and test paid; a test holds it to
    # libyaml's values on every CRD shipped.
    import yaml_rs

    return yaml_rs.loads(path.read_text(encoding="utf-8"))


@cache
def _crd_validator(api_version: str, kind: str) -> Any:
    rel = CRDS.get((api_version, kind))
    if rel is None:
        return None
    crd = _load_yaml(CRD_DIR / rel)
    for version in crd["spec"]["versions"]:
        if f"{crd['spec']['group']}/{version['name']}" == api_version:
            if not version.get("served", False):
                raise AssertionError(f"{rel} does not serve {api_version}")
            schema = root_schema(version["schema"]["openAPIV3Schema"])
            return _Validator(schema)
    raise AssertionError(f"{rel} has no version {api_version}")


@cache
def match_schema() -> dict[str, Any]:
    """Gatekeeper's match schema: the Assign CRD's ``spec.match`` is the same
    ``match.Match`` type that Gatekeeper puts into every Constraint CRD."""
    path = CRD_DIR / "gatekeeper-v3.23.0" / "assign-customresourcedefinition.yaml"
    crd = _load_yaml(path)
    for version in crd["spec"]["versions"]:
        if version["name"] == "v1":
            return dict(
                version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["match"]
            )
    raise AssertionError("the Assign CRD has no v1")


def constraint_schema(template: Mapping[str, Any]) -> dict[str, Any]:
    """The schema Gatekeeper generates for a template's Constraint kind
    (frameworks CreateSchema): metadata.name at most 63 characters, spec with
    match, enforcementAction, scopedEnforcementActions and the template's
    parameters schema. A ``legacySchema`` template gets
    preserve-unknown-fields everywhere (AddPreserveUnknownFields)."""
    validation = (((template.get("spec") or {}).get("crd") or {}).get("spec") or {}).get(
        "validation"
    ) or {}
    params = validation.get("openAPIV3Schema")
    spec_props: dict[str, Any] = {
        "match": match_schema(),
        "enforcementAction": {"type": "string"},
        "scopedEnforcementActions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "action": {"type": "string"},
                    "enforcementPoints": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                    },
                },
            },
        },
    }
    if params is not None:
        spec_props["parameters"] = (
            _preserve_everywhere(params) if validation.get("legacySchema") else params
        )
    schema = root_schema(
        {
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": spec_props},
                "status": {"x-kubernetes-preserve-unknown-fields": True},
            },
        }
    )
    schema["properties"]["metadata"] = {
        **OBJECT_META,
        "properties": {
            **OBJECT_META["properties"],
            "name": {**OBJECT_META["properties"]["name"], "maxLength": 63},
        },
    }
    return schema


def _preserve_everywhere(node: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(node)
    if out.get("type", "object") == "object":
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "properties" in out:
        out["properties"] = {k: _preserve_everywhere(v) for k, v in out["properties"].items()}
    if isinstance(out.get("items"), Mapping):
        out["items"] = _preserve_everywhere(out["items"])
    return out


#: Built-in kinds we may render: (apiVersion, kind) → the Kubernetes
#: versions that serve it, first and last (None: still served), as
#: kubernetes-validate's schemas have them (policygen/versions.py).
BUILTIN: dict[tuple[str, str], tuple[str, str | None]] = {
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): ("1.30", None),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): ("1.30", None),
    ("admissionregistration.k8s.io/v1beta1", "ValidatingAdmissionPolicy"): ("1.28", "1.33"),
    ("admissionregistration.k8s.io/v1beta1", "ValidatingAdmissionPolicyBinding"): ("1.28", "1.33"),
    ("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicy"): ("1.36", None),
    ("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicyBinding"): ("1.36", None),
    ("admissionregistration.k8s.io/v1beta1", "MutatingAdmissionPolicy"): ("1.34", None),
    ("admissionregistration.k8s.io/v1beta1", "MutatingAdmissionPolicyBinding"): ("1.34", None),
}


def _builtin_errors(
    doc: Mapping[str, Any], served: tuple[str, str | None], kubernetes: str | None
) -> list[str]:
    """Errors at the bundle's Kubernetes version, or (a bundle of unknown
    versions) at the oldest and newest we check that serve the kind."""
    since, until = served

    def serves(version: str) -> bool:
        return _minor(since) <= _minor(version) and (
            until is None or _minor(version) <= _minor(until)
        )

    if kubernetes is not None:
        if not serves(kubernetes):
            return [f"Kubernetes {kubernetes} does not serve {doc['apiVersion']} {doc['kind']}"]
        at: tuple[str, ...] = (kubernetes,)
    else:
        at = tuple(v for v in KUBERNETES_VERSIONS if serves(v)) or (until or since,)
    errors: list[str] = []
    for version in at:
        validator = _builtin_validator(version, str(doc["apiVersion"]), str(doc["kind"]))
        for error in sorted(validator.iter_errors(doc), key=_error_key):
            errors.append(f"Kubernetes {version}: {_describe(error)}")
    return errors


@cache
def _builtin_validator(version: str, api_version: str, kind: str) -> Any:
    """kubernetes-validate's strict schema for a kind at a version, built
    once (its ``validate`` re-reads every schema on each call and stops at
    the first error), the way its ``validate`` builds it."""
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{version}.0-local-strict"
    schema = utils.schema_contents(f"{folder}/{kind.lower()}-{group}.json", version)
    definitions = utils.schema_contents(f"{folder}/_definitions.json", version)
    registry: Any = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


# --- checking ------------------------------------------------------------------


def object_errors(
    doc: Mapping[str, Any],
    templates: Mapping[str, Mapping[str, Any]] | None = None,
    kubernetes: str | None = None,
) -> list[str]:
    """What the API server would refuse in one object ([] when nothing).
    ``templates``: ConstraintTemplates by their Constraint kind;
    ``kubernetes``: the minor version the bundle is built for."""
    template = (templates or {}).get(str(doc.get("kind")))
    key = json.dumps([doc, template, kubernetes], sort_keys=True, default=str)
    return list(_memo_errors(key))


@lru_cache(maxsize=4096)
def _memo_errors(key: str) -> tuple[str, ...]:
    # Property tests render many configs with equal objects; each check of a
    # built-in kind reads kubernetes-validate's schemas again.
    doc, template, kubernetes = json.loads(key)
    return tuple(_object_errors(doc, template, kubernetes))


def _object_errors(
    doc: Mapping[str, Any], template: Mapping[str, Any] | None, kubernetes: str | None
) -> list[str]:
    api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
    validator: Any
    if (api_version, kind) in BUILTIN:
        errors = _builtin_errors(doc, BUILTIN[(api_version, kind)], kubernetes)
        return errors + _meta_errors(doc)
    if api_version.startswith("constraints.gatekeeper.sh/"):
        if template is None:
            return [f"no ConstraintTemplate in the bundle defines kind {kind}"]
        validator = _constraint_validator(json.dumps(template, sort_keys=True, default=str))
    else:
        validator = _crd_validator(api_version, kind)
        if validator is None:
            return [f"no schema known for {api_version} {kind}"]
    errors = [_describe(e) for e in sorted(validator.iter_errors(doc), key=_error_key)]
    return errors + _meta_errors(doc)


@lru_cache(maxsize=64)
def _constraint_validator(template: str) -> Any:
    """One compiled schema per ConstraintTemplate (its JSON): a bundle has
    a Constraint per template, and each build checks them again."""
    return _Validator(constraint_schema(json.loads(template)))


def _error_key(error: jsonschema.ValidationError) -> tuple[str, str]:
    return (".".join(str(p) for p in error.absolute_path), error.message)


def _describe(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(root)"
    schema = error.schema
    if (
        error.validator == "additionalProperties"
        and isinstance(error.instance, dict)
        and isinstance(schema, Mapping)
    ):
        known = set((schema.get("properties") or {}).keys())
        unknown = sorted(set(error.instance) - known)
        return f"{path}: unknown field(s) {', '.join(unknown)}"
    return f"{path}: {error.message}"


def _meta_errors(doc: Mapping[str, Any]) -> list[str]:
    """What ObjectMeta validation refuses that a schema cannot say."""
    meta = doc.get("metadata") or {}
    errors = []
    for where in ("labels", "annotations"):
        for key, value in (meta.get(where) or {}).items():
            prefix, _, name = str(key).rpartition("/")
            if len(name) > 63 or not QUALIFIED_NAME.match(name):
                errors.append(f"metadata.{where}: key {key!r} is not a qualified name")
            if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
                errors.append(f"metadata.{where}: key {key!r} has an invalid prefix")
            if where == "labels" and (len(str(value)) > 63 or not LABEL_VALUE.match(str(value))):
                errors.append(f"metadata.labels: value {value!r} is not a label value")
    total = sum(len(k) + len(str(v)) for k, v in (meta.get("annotations") or {}).items())
    if total > TOTAL_ANNOTATION_SIZE:
        errors.append(f"metadata.annotations: {total} bytes, over {TOTAL_ANNOTATION_SIZE}")
    return errors


#: cel-go's default expression size limit (parser ExpressionSizeCodePointLimit),
#: which the cel-expr-python runtime enforces too.
CEL_SIZE_LIMIT = 100_000


def _cel_sizes(doc: Mapping[str, Any]) -> Iterator[tuple[str, int]]:
    """Each CEL expression of a (Validating|Mutating)AdmissionPolicy, a
    Kyverno CEL policy or a ConstraintTemplate's K8sNativeValidation code,
    with its length in code points."""
    if doc.get("kind") == "ConstraintTemplate":
        for t, target in enumerate((doc.get("spec") or {}).get("targets") or []):
            for c, code in enumerate(target.get("code") or []):
                if code.get("engine") == "K8sNativeValidation":
                    at = f"spec.targets[{t}].code[{c}].source"
                    for where, size in _cel_part_sizes(code.get("source") or {}):
                        yield f"{at}.{where}", size
        return
    if not str(doc.get("apiVersion", "")).startswith(
        ("admissionregistration.k8s.io/", "policies.kyverno.io/")
    ):
        return
    for where, size in _cel_part_sizes(doc.get("spec") or {}):
        yield f"spec.{where}", size


def _cel_part_sizes(spec: Mapping[str, Any]) -> Iterator[tuple[str, int]]:
    for part in ("matchConditions", "variables", "validations", "auditAnnotations", "mutations"):
        for i, entry in enumerate(spec.get(part) or []):
            for key in ("expression", "messageExpression", "valueExpression"):
                text = entry.get(key) if isinstance(entry, dict) else None
                if isinstance(text, str):
                    yield f"{part}[{i}].{key}", len(text)


def compact_size(doc: Any) -> int:
    """Bytes of the object's compact JSON, as kubectl stores it."""
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())


def named(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind')}/{meta.get('name')}"


def check_documents(
    files: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    rendered: bool = True,
    kubernetes: str | None = None,
) -> None:
    """Refuse a bundle the API server would not take: every object of every
    file (path → its documents) against its schema, then against the size
    limit. Raises InvalidObject (``rendered``: we made it) or
    InvalidBundleObject, or ObjectTooLarge, naming file and object."""
    docs = [(path, d) for path, ds in files.items() for d in ds]
    templates = {
        str(
            ((d.get("spec") or {}).get("crd") or {}).get("spec", {}).get("names", {}).get("kind")
        ): d
        for _, d in docs
        if d.get("kind") == "ConstraintTemplate"
    }
    problems = [
        f"{path}: {named(doc)}: {error}"
        for path, doc in docs
        for error in object_errors(doc, templates, kubernetes)
    ]
    if problems and rendered:
        raise InvalidObject(
            "policygen rendered objects a Kubernetes API server would refuse "
            "(a bug in policygen, please report it):\n  " + "\n  ".join(problems)
        )
    if problems:
        raise InvalidBundleObject(
            "the bundle holds objects a Kubernetes API server would refuse "
            "(rebuild it with `policygen build`):\n  " + "\n  ".join(problems)
        )
    too_large = [
        f"{path}: {named(doc)} is {compact_size(doc):,} bytes of compact JSON, over the "
        f"{SIZE_LIMIT:,}-byte limit"
        for path, doc in docs
        if compact_size(doc) > SIZE_LIMIT
    ] + [
        f"{path}: {named(doc)}: {where} is {size:,} code points, over CEL's "
        f"{CEL_SIZE_LIMIT:,} (cel-go's parser refuses it)"
        for path, doc in docs
        for where, size in _cel_sizes(doc)
        if size > CEL_SIZE_LIMIT
    ]
    if too_large:
        raise ObjectTooLarge(
            "the config renders objects too large for `kubectl apply` (the last-applied "
            "annotation holds at most 262,144 bytes):\n  " + "\n  ".join(too_large)
        )


def check_texts(
    files: Mapping[str, str], *, kubernetes: str | None = None
) -> dict[str, list[Mapping[str, Any]]]:
    """``check_documents`` over rendered YAML texts (kustomizations and
    other non-objects skipped); the objects checked, by path."""
    parsed: dict[str, list[Mapping[str, Any]]] = {}
    for path, text in files.items():
        if not path.endswith(".yaml") or path.endswith("kustomization.yaml"):
            continue
        # The one YAML reader (yamlsafe): libyaml's events into plain values,
        # 2x faster than CSafeLoader's node graph and 40x than PyYAML's
        # pure-Python parser, with the limits every input has.
        parsed[path] = [d for d in load_all_fast(text) if isinstance(d, dict)]
    check_documents(parsed, kubernetes=kubernetes)
    return parsed
