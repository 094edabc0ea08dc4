"""``matches`` with a constant pattern answered once per subject: the same
answers and errors as cel-cpp's own ``matches`` on the expression as written."""

from __future__ import annotations

from typing import Any

import pytest

from policygen.engines import _cel_regex
from policygen.engines.vap import Cel, CelError


def _always(_: str) -> bool:
    return True


@pytest.mark.parametrize(
    ("expression", "rewritten"),
    [
        ('c.image.matches("^a$")', 1),
        ("!request.namespace.matches(\"^a$\") && x.matches('b')", 2),
        ('names.all(n, n.matches("^[a-z]+$"))', 1),
        ('(a + b).matches("x")', 0),  # not a chain of names
        ('f(x).matches("x")', 0),
        ('x[0].matches("x")', 0),
        ('object.?spec.name.matches("x")', 0),  # an optional field
        ('x.matches(r"x")', 0),  # a raw literal
        ("x.matches(y)", 0),  # not a literal
        ('x.matches("a" + "b")', 0),
        ('"lit".matches("x")', 0),
        ('matches(x, "x")', 0),  # the global form
        ('x.matches("a") || __policygen_subject', 0),  # the names are taken
    ],
)
def test_what_is_rewritten(expression: str, rewritten: int) -> None:
    out = _cel_regex.rewrite(expression, _always)
    assert (out or "").count(f"{_cel_regex.FUNCTION}(") == rewritten


def test_an_invalid_pattern_is_left_to_matches() -> None:
    assert _cel_regex.rewrite('x.matches("(")', lambda _: False) is None
    cel = Cel()
    assert not cel._valid_pattern('"("')
    assert cel._valid_pattern('"^(?:a|b)$"')
    expression = 'object.matches("(")'
    with pytest.raises(CelError) as err:
        cel.eval(expression, {"object": "a"}, "here")
    assert str(err.value) == f"here: {_as_written(cel, expression, 'a')}"


def _as_written(cel: Cel, expression: str, value: Any) -> Any:
    """The expression compiled as written, without the rewrite."""
    program = cel._env.compile(expression)
    result = program.eval(cel._env.Activation({"object": value}, arena=cel._cel.Arena()))
    if result.type() == cel._cel.Type.ERROR:
        return str(result.value())
    return result.plain_value()


EXPRESSIONS = [
    'object.matches("^[a-z]+$")',
    'object.matches("b")',  # a partial match, as RE2's
    'object.matches("^a$")',  # $ is the end of text, not before a newline
    "object.matches('^\\\\d+$')",  # RE2's \\d: ASCII digits only
    'object.matches("^.$")',  # one code point
    '!object.matches("^x") || object.size() > 3',
]
SUBJECTS: list[Any] = ["abc", "a\n", "a", "١٢", "12", "é", "\ue000", "", 7, None, ["a"], {"a": 1}]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_same_answers_and_errors_as_written(expression: str) -> None:
    cel = Cel()
    assert _cel_regex.rewrite(expression, cel._valid_pattern) is not None
    for subject in SUBJECTS:
        try:
            got: Any = cel.eval(expression, {"object": subject}, "at")
        except CelError as exc:
            got = str(exc).removeprefix("at: ")
        assert got == _as_written(cel, expression, subject), subject


def test_an_erring_receiver_gives_its_error() -> None:
    cel = Cel()
    expression = 'object.spec.name.matches("^a$")'
    with pytest.raises(CelError) as err:
        cel.eval(expression, {"object": {"spec": {}}}, "at")
    assert str(err.value) == f"at: {_as_written(cel, expression, {'spec': {}})}"


def test_answers_are_kept_per_subject_and_pattern() -> None:
    # one Cel, so one Matcher: a key that dropped the subject or the
    # pattern would answer one of these from another's answer
    cel = Cel()
    cases = [
        ('object.matches("^a$")', "a", True),
        ('object.matches("^a$")', "b", False),
        ('object.matches("^b$")', "b", True),
        ('object.matches("^b$")', "a", False),
        ('object.matches("^a$")', "a", True),
    ]
    for expression, subject, expected in cases:
        assert cel.eval(expression, {"object": subject}, "at") is expected
