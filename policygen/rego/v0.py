"""Rego v0, as Gatekeeper reads a ConstraintTemplate, turned into the same
program in v1 syntax, so that an engine whose parser reads v1 only (the OPA
binding) evaluates what Gatekeeper evaluates.

Two steps, each checked:

1. **Chained bodies** (``p[x] { a } { b }``, v0 only) are sugar for one rule
   per body with the same head (OPA ``ast/parser.go`` ``parseRules``). They
   are split on tokens (``lexer``). regorus, whose parser does the rest, has
   no such sugar: it refuses it for sets and reads it as ``else`` elsewhere.
2. **v1 keywords**: regorus parses the module as v0 (its ``set_rego_v0``
   switch) and gives each rule's head and bodies with their spans; a partial
   set head ``p[x]`` becomes ``p contains x`` and every braced body gets
   ``if``. The result is parsed again as v1 and must give the same syntax
   tree, spans aside; otherwise the template is refused.

Deprecated v0 built-ins: ``re_match`` is ``regex.match`` under another
name (OPA ``ast/builtins.go``) and is renamed; the others (``any``, ``all``,
``set_diff``, ``cast_*``, ``net.cidr_overlap``) are refused by name, since
no engine here has them in v1.
"""

from __future__ import annotations

import json
from typing import Any

from policygen.rego.errors import RegoError
from policygen.rego.lexer import Token, tokenize

#: Tokens after which a depth-0 ``{`` opens a value (``p = {1}``,
#: ``p contains {"msg": m}``), not a body.
_VALUE_BEFORE = {"=", ":=", "contains"}

#: OPA's deprecated built-ins (capabilities ``deprecated: true``) that v1 drops.
DEPRECATED = {
    "any",
    "all",
    "set_diff",
    "cast_array",
    "cast_set",
    "cast_string",
    "cast_boolean",
    "cast_null",
    "cast_object",
    "net.cidr_overlap",
}


def split_chained_bodies(source: str) -> str:
    """``head { a } { b }`` → ``head { a }`` and ``head { b }``."""
    tokens = tokenize(source)
    inserts: list[tuple[int, str]] = []
    depth = 0
    head_start: Token | None = None
    head_text = ""
    closed_body = False  # the last depth-0 ``}`` closed a body
    after_else = False
    previous: Token | None = None
    for tok in tokens:
        if depth == 0:
            if tok.first and tok.text not in ("{", "}", "else") and not _continues(previous):
                head_start, head_text, closed_body, after_else = tok, "", False, False
            if tok.text == "else":
                after_else = True
            if tok.text == "{" and (previous is None or previous.text not in _VALUE_BEFORE):
                if previous is not None and previous.text == "}" and closed_body:
                    if after_else:
                        raise RegoError(
                            f"line {tok.line}: a chained body after else has no meaning here"
                        )
                    if not head_text:
                        raise RegoError(f"line {tok.line}: a chained body without a head")
                    inserts.append((tok.start, f"\n{head_text} "))
                elif head_start is not None and not head_text:
                    head_text = source[head_start.start : tok.start].rstrip()
                    if head_text.endswith(" if"):
                        head_text = head_text[: -len(" if")]
                depth += 1
                previous = tok
                # Marks the brace as a body for when it closes.
                closed_body = True
                continue
        if tok.text in ("{", "[", "("):
            if depth == 0:
                closed_body = False
            depth += 1
        elif tok.text in ("}", "]", ")"):
            depth -= 1
            if depth < 0:
                raise RegoError(f"line {tok.line}: unbalanced {tok.text!r}")
        previous = tok
    out = source
    for at, text in reversed(inserts):
        out = out[:at] + text + out[at:]
    return out


def _continues(previous: Token | None) -> bool:
    """Whether a line starting after ``previous`` continues its statement."""
    return previous is not None and previous.text in (
        "=",
        ":=",
        ",",
        "else",
        "|",
        "&",
        "+",
        "-",
        "*",
        "/",
        "==",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
    )


def to_v1(source: str) -> str:
    """The v0 module ``source`` as v1 text that means the same; RegoError
    when regorus cannot parse it or the two readings differ."""
    plain = split_chained_bodies(source)
    # v0 sugar first, checked only by being v0 too: ``f(x)`` without a body
    # is ``f(x) = true`` (OPA's parser adds the same value).
    plain = _apply(plain, _bare_functions(parse(plain, v0=True)))
    tree = parse(plain, v0=True)
    out = _apply(plain, _keywords(plain, tree))
    if _bare(parse(out, v0=False)) != _bare(tree):
        raise RegoError("its v1 conversion does not parse to the same program")
    return _deprecated(out)


def _deprecated(source: str) -> str:
    tokens = tokenize(source)
    edits: list[Edit] = []
    for i, tok in enumerate(tokens):
        if i > 0 and tokens[i - 1].text == ".":
            continue  # a ref's member, not a built-in
        name = tok.text
        if tok.kind == "name" and name == "net" and tokens[i + 1 : i + 3]:
            name = "net." + tokens[i + 2].text if tokens[i + 1].text == "." else name
        follows = tokens[i + (3 if name.startswith("net.") else 1) :][:1]
        if not follows or follows[0].text != "(":
            continue
        if name == "re_match":
            edits.append((tok.start, tok.end, "regex.match"))
        elif name in DEPRECATED:
            raise RegoError(f"line {tok.line}: the deprecated v0 built-in {name} is not supported")
    return _apply(source, edits)


Edit = tuple[int, int, str]


def _apply(text: str, edits: list[Edit]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _specs(tree: dict[str, Any]) -> list[dict[str, Any]]:
    # ``default`` rules read the same in v0 and v1.
    return [r["Spec"] for r in tree.get("rules") or [] if "Spec" in r]


def _bare_functions(tree: dict[str, Any]) -> list[Edit]:
    out = []
    for spec in _specs(tree):
        kind, head = next(iter(spec["head"].items()))
        if kind == "Func" and head.get("assign") is None and not spec.get("bodies"):
            end = _span(spec["head"])[1]
            out.append((end, end, " = true"))
    return out


def _keywords(plain: str, tree: dict[str, Any]) -> list[Edit]:
    """``contains`` for partial set heads, ``if`` before braced bodies."""
    tokens = tokenize(plain)
    index = {t.start: i for i, t in enumerate(tokens)}
    edits: list[Edit] = []
    for spec in _specs(tree):
        kind, head = next(iter(spec["head"].items()))
        head_end = _span(spec["head"])[1]
        if kind == "Set" and head.get("key") is not None:
            # regorus's spans of composite terms are unreliable; the head's
            # and the name's are not: ``name [ key ]`` up to the head's end.
            refr_end = _span(head["refr"])[1]
            gap = plain[refr_end:head_end]
            if gap.lstrip().startswith("[") and plain[head_end - 1] == "]":
                opening = refr_end + gap.index("[")
                edits.append((opening, opening + 1, " contains "))
                edits.append((head_end - 1, head_end, ""))
        for body in spec.get("bodies") or []:
            start = _span(body["query"])[0]
            i = index.get(start)
            if i is None:
                raise RegoError(f"offset {start}: a rule body that does not start with a token")
            if body.get("is_else"):
                # regorus's span of an else body starts at ``else`` or after it.
                while i > 0 and tokens[i].text != "else":
                    i -= 1
                found = _else_body(tokens, i)
                if found is None:
                    continue  # ``else := value`` without a body reads the same
                i = found
            if tokens[i].text != "{":
                continue  # ``if expr`` without braces: already v1
            if i == 0 or tokens[i - 1].text != "if":
                edits.append((tokens[i].start, tokens[i].start, "if "))
    return edits


def _else_body(tokens: list[Token], i: int) -> int | None:
    """The index of the token that opens the body of the ``else`` at ``i``:
    the first depth-0 ``{`` that does not open the else's value; None when
    the next statement starts first."""
    if tokens[i].text != "else":
        raise RegoError(f"line {tokens[i].line}: an else body that does not start with else")
    depth = 0
    for j in range(i + 1, len(tokens)):
        text = tokens[j].text
        if depth == 0 and text == "{" and tokens[j - 1].text not in _VALUE_BEFORE:
            return j
        if depth == 0 and tokens[j].first and not _continues(tokens[j - 1]):
            return None
        if text in ("{", "[", "("):
            depth += 1
        elif text in ("}", "]", ")"):
            depth -= 1
        elif depth == 0 and text == "if":
            return j + 1 if j + 1 < len(tokens) and tokens[j + 1].text == "{" else j
    return None


def parse(source: str, *, v0: bool) -> dict[str, Any]:
    """regorus's syntax tree of one module."""
    import regorus

    engine = regorus.Engine()
    engine.set_rego_v0(v0)
    try:
        engine.add_policy("template.rego", source)
    except RuntimeError as exc:
        raise RegoError(f"Rego {'v0' if v0 else 'v1'} does not parse: {brief(exc)}") from None
    return dict(json.loads(engine.get_ast_as_json())[0]["ast"])


def brief(exc: BaseException) -> str:
    """regorus's message without the Rust backtrace it appends."""
    text = str(exc).split("Stack backtrace:", 1)[0]
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _span(node: dict[str, Any]) -> tuple[int, int]:
    inner = node if "span" in node else next(iter(node.values()))
    return int(inner["span"]["start"]), int(inner["span"]["end"])


def _bare(node: Any) -> Any:
    """The tree without positions and counters, which differ between texts."""
    if isinstance(node, dict):
        if {"line", "col", "start", "end"} >= node.keys() and "start" in node:
            return None
        return {
            k: _bare(v)
            for k, v in node.items()
            if k not in ("span", "eidx", "sidx", "qidx", "rego_v1")
        }
    if isinstance(node, list):
        return [_bare(v) for v in node]
    return node
