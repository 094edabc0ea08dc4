"""``scan --format sarif``: SARIF 2.1.0 as GitHub code scanning reads it.

One result per violation, located at the document's first line; deny is
``error``, warn is ``warning``, audit is ``note``. Files that could not be
read become tool notifications. Results are written as they come."""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from typing import Any

from policygen import __version__
from policygen.formatters import Formatter
from policygen.manifests import FileProblem
from policygen.scan import ObjectResult, Summary

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"deny": "error", "warn": "warning", "audit": "note"}
RULES = {
    "digest": (
        "RequireImageDigest",
        "Images must be pinned by digest.",
        "A tag can be overwritten; a node that cached the old image under "
        "IfNotPresent keeps running it. Reference the image by digest.",
    ),
    "pullPolicy": (
        "RequirePullAlways",
        "imagePullPolicy must be Always.",
        "With IfNotPresent a node runs its cached copy: an overwritten tag goes "
        "unnoticed, and another tenant's private image can be run without credentials.",
    ),
    "registries": (
        "RestrictImageRegistries",
        "Images must come from a registry allowed in the namespace.",
        "Each tenant may use the shared registries and its own; matching is on "
        "path-segment boundaries of the normalised reference.",
    ),
    "scope": (
        "NamespaceKnown",
        "The Namespace object is needed to evaluate a namespaceSelector.",
        "Include the Namespace object in the scanned input.",
    ),
}


def _uri(path: str) -> str:
    return "stdin" if path == "<stdin>" else str(PurePosixPath(path)).removeprefix("./")


class SarifFormatter(Formatter):
    def begin(self) -> None:
        rules = [
            {
                "id": rule,
                "name": name,
                "shortDescription": {"text": short},
                "fullDescription": {"text": full},
                "help": {"text": full},
                "defaultConfiguration": {"level": "error"},
            }
            for rule, (name, short, full) in RULES.items()
        ]
        driver = {
            "name": "policygen",
            "version": __version__,
            "informationUri": "https://policygen.dev",
            "rules": rules,
        }
        head = {"$schema": SCHEMA, "version": "2.1.0"}
        text = json.dumps(head)[:-1]
        self.out.write(text + ', "runs": [{"tool": ' + json.dumps({"driver": driver}))
        self.out.write(', "results": [')
        self.first = True
        self.problems: list[FileProblem] = []

    def result(self, r: ObjectResult) -> None:
        for engine, violations in r.by_engine.items():
            for v in violations:
                self._write(self._result(r, engine, v))

    def _result(self, r: ObjectResult, engine: str, v: Any) -> dict[str, Any]:
        where = f"{r.kind} {r.namespace}/{r.name}"
        identity = "\0".join([r.source, where, v.rule, v.container, v.message])
        return {
            "ruleId": v.rule if v.rule in RULES else "scope",
            "level": LEVELS[v.action],
            "message": {"text": f"{where}: {v.message}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(r.path)},
                        "region": {"startLine": max(r.line, 1)},
                    },
                    "logicalLocations": [{"name": where, "kind": "object"}],
                }
            ],
            "partialFingerprints": {
                "policygen/v1": hashlib.sha256(identity.encode()).hexdigest()[:32]
            },
            "properties": {"engine": engine, "container": v.container, "image": v.image},
        }

    def _write(self, item: dict[str, Any]) -> None:
        self.out.write(("" if self.first else ", ") + json.dumps(item))
        self.first = False

    def problem(self, p: FileProblem) -> None:
        self.problems.append(p)

    def end(self, summary: Summary) -> None:
        notes = [
            {"level": "error", "message": {"text": str(p)}, "locations": []} for p in self.problems
        ]
        invocation = {"executionSuccessful": True, "toolExecutionNotifications": notes}
        self.out.write('], "invocations": ' + json.dumps([invocation]) + "}]}\n")
