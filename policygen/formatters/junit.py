"""``scan --format junit``: JUnit XML, one test case per object.

A denied object is a failure; warn and audit findings go to the case's
system-out; unreadable files are errors. JUnit puts the counts on the
opening tag, so cases are spooled to a temporary file and copied after it:
memory stays flat however many objects there are."""

from __future__ import annotations

import shutil
import tempfile
from xml.sax.saxutils import escape, quoteattr

from policygen.formatters import Formatter
from policygen.manifests import FileProblem
from policygen.scan import ObjectResult, Summary


class JunitFormatter(Formatter):
    def begin(self) -> None:
        # Open across begin() and end(); closed in end().
        self.cases = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self.tests = self.failures = self.errors = 0

    def result(self, r: ObjectResult) -> None:
        self.tests += 1
        name = f"{r.kind} {r.namespace}/{r.name}"
        lines = [
            f"    <testcase classname={quoteattr(r.kind)} name={quoteattr(name)} "
            f"file={quoteattr(r.path)}>"
        ]
        findings = [
            f"{engine}: {v.action}: [{v.rule}] {v.message}"
            for engine, vs in r.by_engine.items()
            for v in vs
        ]
        if r.verdict == "deny":
            self.failures += 1
            denied = [f for f in findings if ": deny: " in f]
            lines.append(
                f'      <failure message={quoteattr(denied[0])} type="deny">'
                f"{escape(chr(10).join(denied))}</failure>"
            )
        if findings:
            lines.append(f"      <system-out>{escape(chr(10).join(findings))}</system-out>")
        lines.append("    </testcase>")
        self.cases.write("\n".join(lines) + "\n")

    def problem(self, p: FileProblem) -> None:
        self.tests += 1
        self.errors += 1
        self.cases.write(
            f'    <testcase classname="file" name={quoteattr(p.source)}>\n'
            f"      <error message={quoteattr(p.message)}/>\n    </testcase>\n"
        )

    def end(self, summary: Summary) -> None:
        counts = f'tests="{self.tests}" failures="{self.failures}" errors="{self.errors}"'
        self.out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        self.out.write(f'<testsuites name="policygen scan" {counts}>\n')
        self.out.write(
            f"  <testsuite name={quoteattr('policygen scan (' + self.engine + ')')} {counts}>\n"
        )
        self.cases.seek(0)
        shutil.copyfileobj(self.cases, self.out)
        self.cases.close()
        self.out.write("  </testsuite>\n</testsuites>\n")
