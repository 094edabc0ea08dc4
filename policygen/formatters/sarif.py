"""``scan --format sarif``: SARIF 2.1.0 as GitHub code scanning reads it.

Deny is ``error``, warn is ``warning``, audit is ``note``. Files that could
not be read become tool notifications. Results are written as they come."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from policygen import __version__
from policygen.formatters import Formatter
from policygen.formatters._findings import Finding, findings
from policygen.locate import Locator
from policygen.manifests import FileProblem
from policygen.rules import TABLE
from policygen.scan import ObjectResult, Summary

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
#: The fingerprint's name carries its version: v1 hashed the position.
FINGERPRINT = "policygen/finding/v2"
LEVELS = {"deny": "error", "warn": "warning", "audit": "note"}


def repository_root(start: Path | None = None) -> Path:
    """The folder URIs are relative to: the enclosing git work tree (what
    GitHub resolves them against), else the working directory."""
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


class SarifFormatter(Formatter):
    """Results as GitHub code scanning keeps them stable across runs.

    - one result per finding (object, rule, container), however many engines
      reported it; they are listed in ``properties.engines``;
    - ``partialFingerprints`` hash the file, the object's identity
      (apiVersion, kind, namespace, name), the rule and the container: not
      the document's position, line or message, so inserting a ConfigMap
      above a Deployment, or retagging its image, keeps its alerts;
    - the region is the line of the offending container's image;
    - URIs are relative to the repository root (``uriBaseId: %SRCROOT%``).
    """

    def begin(self) -> None:
        self.base = repository_root()
        self.locator = Locator()
        # every rule a finding can name, with its words from the rule table
        self.rule_ids = list(TABLE)
        rules = [
            {
                "id": rule.name,
                "name": rule.identifier,
                "shortDescription": {"text": rule.summary},
                "fullDescription": {"text": rule.remediation},
                "help": {"text": rule.remediation},
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["security", "kubernetes"], "precision": "very-high"},
            }
            for rule in TABLE.values()
        ]
        driver = {
            "name": "policygen",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": "https://policygen.dev",
            "rules": rules,
        }
        head = {"$schema": SCHEMA, "version": "2.1.0"}
        text = json.dumps(head)[:-1]
        self.out.write(text + ', "runs": [{"tool": ' + json.dumps({"driver": driver}))
        bases = {SRCROOT: {"uri": self.base.as_uri() + "/"}}
        self.out.write(', "originalUriBaseIds": ' + json.dumps(bases))
        self.out.write(', "results": [')
        self.first = True
        self.problems: list[FileProblem] = []

    def _artifact(self, path: str) -> dict[str, str]:
        if path == "<stdin>":
            return {"uri": "stdin"}
        absolute = Path(path).absolute()
        try:
            rel = absolute.relative_to(self.base)
        except ValueError:
            return {"uri": absolute.as_uri()}  # outside the repository
        return {"uri": quote(PurePosixPath(rel).as_posix()), "uriBaseId": SRCROOT}

    def result(self, r: ObjectResult) -> None:
        for f in findings(r):
            self._write(self._result(r, f))

    def _result(self, r: ObjectResult, f: Finding) -> dict[str, Any]:
        where = f"{r.kind} {r.namespace}/{r.name}"
        artifact = self._artifact(r.path)
        identity = "\0".join(
            [artifact["uri"], r.api_version, r.kind, r.namespace, r.name, f.rule, f.container]
        )
        line = self.locator.line(r.source, f.container) if f.container else None
        return {
            "ruleId": f.rule,
            "ruleIndex": self.rule_ids.index(f.rule),
            "level": LEVELS[f.action],
            "message": {"text": f"{where}: {f.message}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": artifact,
                        "region": {"startLine": line or max(r.line, 1)},
                    },
                    "logicalLocations": [
                        {
                            "name": f"{r.namespace}/{r.name}",
                            "fullyQualifiedName": "/".join(
                                [r.api_version, r.kind, r.namespace, r.name]
                            ),
                            "kind": "object",
                        }
                    ],
                }
            ],
            "partialFingerprints": {
                FINGERPRINT: hashlib.sha256(identity.encode()).hexdigest()[:32]
            },
            "properties": {
                "engines": list(f.engines),
                "container": f.container,
                "image": f.image,
            },
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
