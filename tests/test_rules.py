"""The rule table (policygen/rules.py) is the one place a rule's words come
from: the model, every target's bundle, the engines reading those bundles,
the report and the scan formats say what the table says, and no other
module or template spells a message, title or description of its own."""

from __future__ import annotations

import dataclasses
import io
import string
from pathlib import Path

import pytest

from policygen import config, rules
from policygen.targets import registry
from tests import harness
from tests.conftest import EXAMPLE, NOW

ROOT = Path(__file__).resolve().parent.parent
#: the fields of a rule that hold words (the rest are names)
TEXT_FIELDS = ("message", "invalid", "title", "description", "summary", "remediation")
#: shorter literal runs ('" image "', ': ') are punctuation, not wording
SHORTEST = 10


def fragments(text: str) -> list[str]:
    """The wording of a message shape: its literal runs between its
    ``{fields}``, without the punctuation at either end."""
    runs = (t.strip(' "(),.:;') for t, _, _, _ in string.Formatter().parse(text))
    return [r for r in runs if len(r) >= SHORTEST]


def table_fragments() -> dict[str, str]:
    """Every wording fragment of the table → the rule and field it is from."""
    out = {}
    for rule in rules.TABLE.values():
        for name in TEXT_FIELDS:
            for fragment in fragments(getattr(rule, name)):
                out[fragment] = f"{rule.name}.{name}"
    return out


def reworded(text: str) -> str:
    """The same shape in other words: its text upper-cased, its fields kept."""
    out = []
    for literal, name, spec, _ in string.Formatter().parse(text):
        out.append(literal.upper())
        if name is not None:
            out.append("{" + name + (":" + spec if spec else "") + "}")
    return "".join(out)


@pytest.fixture
def other_words(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The table with every rule's words upper-cased; the original
    fragments, for checking that none survives."""
    before = table_fragments()
    for name, rule in list(rules.TABLE.items()):
        changed = {f: reworded(getattr(rule, f)) for f in (*TEXT_FIELDS, "unset")}
        monkeypatch.setitem(rules.TABLE, name, dataclasses.replace(rule, **changed))
    return before


def test_the_table_names_every_rule_of_the_config_then_scope() -> None:
    assert list(rules.TABLE) == [*rules.NAMES, "scope"]
    assert all(rules.TABLE[n].name == n for n in rules.TABLE)
    assert [rules.TABLE[n].policy for n in rules.NAMES] == [
        "require-image-digest",
        "require-pull-always",
        "restrict-image-registries",
    ]
    assert [rules.TABLE[n].token for n in rules.NAMES] == ["digest", "pullpolicy", "registries"]


def test_the_message_view_reads_the_table_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    assert rules.MESSAGES["unknownNamespace"] == rules.TABLE["scope"].message
    assert rules.MESSAGES["invalid"] == rules.TABLE["registries"].invalid
    changed = dataclasses.replace(rules.TABLE["digest"], message="m")
    monkeypatch.setitem(rules.TABLE, "digest", changed)
    assert rules.MESSAGES["digest"] == "m"
    assert set(rules.MESSAGES) == {
        "digest",
        "invalid",
        "pullPolicy",
        "registries",
        "unknownNamespace",
    }


def source_files() -> list[Path]:
    package = [p for p in (ROOT / "policygen").rglob("*.py") if p.name != "rules.py"]
    return sorted(package + list((ROOT / "templates").rglob("*.j2")))


def test_no_module_or_template_spells_a_rule_s_words() -> None:
    """Messages, titles, descriptions and SARIF texts live in the table
    alone: a fragment of one anywhere else is a second copy, which would
    drift."""
    found = table_fragments()
    assert "must be pinned by digest" in found  # the check sees the messages
    copies = [
        f"{path.relative_to(ROOT)}: {fragment!r} ({where})"
        for path in source_files()
        for fragment, where in found.items()
        if fragment in path.read_text()
    ]
    assert copies == []


def test_every_word_in_a_rendered_bundle_comes_from_the_table(
    other_words: dict[str, str],
) -> None:
    """Rendered with other words in the table, no bundle keeps one of the
    old ones (a template or target that spells a message would), and each
    says the new ones."""
    cfg = config.load(EXAMPLE, today=NOW)
    for name, target in registry().items():
        text = "\n".join(target.render(cfg, NOW).values())
        kept = [
            f"{where}: {fragment!r}" for fragment, where in other_words.items() if fragment in text
        ]
        assert kept == [], name
        assert "MUST BE PINNED BY DIGEST" in text, name
        assert "IS NOT FROM A REGISTRY ALLOWED IN NAMESPACE" in text, name


@pytest.mark.parametrize("corpus", list(harness.CORPORA))
@pytest.mark.parametrize(
    "evaluator", ["kyverno", "kyverno-cel", "vap", "gatekeeper", "gatekeeper-rego[opa]"]
)
def test_engines_say_the_table_s_words(
    other_words: dict[str, str], evaluator: str, corpus: str
) -> None:
    """Each engine, reading a bundle rendered with other words in the table,
    reports exactly the messages the model formats from it (the agreement
    harness compares messages), and the model does use the new words."""
    from policygen import model

    data = harness.CORPORA[corpus]()
    cfg = data.config_for("model")
    said = {
        v.message
        for _, obj in data.objects
        for v in model.evaluate(cfg, obj, model.Context(now=NOW, namespaces=data.namespaces))
    }
    assert said and all(m == m.upper() or '"' in m for m in said)
    assert any("IS NOT A VALID IMAGE REFERENCE" in m or "MUST" in m for m in said)
    assert harness.disagreeing(evaluator, corpus) == {}


def test_sarif_and_policyreport_describe_rules_from_the_table(
    other_words: dict[str, str],
) -> None:
    from policygen.formatters.policyreport import PolicyReportFormatter
    from policygen.formatters.sarif import SarifFormatter

    out = io.StringIO()
    sarif = SarifFormatter(out, "model")
    sarif.begin()
    head = out.getvalue()
    for rule in rules.TABLE.values():
        assert f'"name": "{rule.identifier}"' in head
        assert rule.summary in head and rule.remediation in head
    assert "IMAGES MUST BE PINNED BY DIGEST." in head

    report = PolicyReportFormatter(io.StringIO(), "model")
    report.begin()
    result = report._result("registries", "fail", "m")
    assert (result["policy"], result["category"]) == (
        "restrict-image-registries",
        rules.TABLE["registries"].category,
    )
