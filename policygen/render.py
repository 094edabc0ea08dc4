"""The one Jinja environment. Templates hold shape; Python passes decisions as data."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


def templates_dir() -> Path:
    """``templates/`` ships inside the wheel as ``policygen/templates``; in a
    source checkout it sits beside the package."""
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).parent.parent / "templates"


def _tojson(value: Any) -> str:
    """JSON is valid YAML and valid Rego/CEL string syntax: one quoting rule."""
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def _sprintf_format(template: str) -> str:
    """A Python ``{name}`` message template as a quoted sprintf format."""
    return _tojson(re.sub(r"\{[a-zA-Z]+\}", "%s", template))


def _yaml_single_quoted(value: str) -> str:
    """A YAML single-quoted scalar (a quote is doubled, nothing else escaped)."""
    return "'" + value.replace("'", "''") + "'"


def _markdown_cell(value: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _indent_block(text: str, width: int) -> str:
    pad = " " * width
    return "\n".join((pad + line) if line else "" for line in text.rstrip("\n").split("\n"))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    # imported when first rendering: validate reads the targets, not Jinja
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["tojson"] = _tojson
    env.filters["sprintf_format"] = _sprintf_format
    env.filters["block"] = _indent_block
    env.filters["md"] = _markdown_cell
    env.filters["squote"] = _yaml_single_quoted
    return env


def render(template: str, **data: Any) -> str:
    """A broken template is policygen's bug: the error propagates to exit 3."""
    return environment().get_template(template).render(**data)
