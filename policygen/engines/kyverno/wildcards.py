"""Kyverno's wildcards (pkg/utils/wildcard, pkg/engine/wildcards): ``*`` and
``?`` matching, and a pattern's wildcard label and annotation keys expanded
to the resource's."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from policygen.engines.kyverno.anchor import anchor


def wildcard(pattern: str, value: str) -> bool:
    """Kyverno's wildcard.Match: ``*`` any run (``/`` and ``:`` too), ``?`` one character."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == value
    return _wildcard_regex(pattern).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, re.DOTALL)


def expand_in_metadata(pattern: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """wildcards.ExpandInMetadata: a wildcard key under metadata.labels or
    metadata.annotations of a pattern becomes the first resource key it
    matches (anchors kept); only string values are kept in those maps."""
    meta_key = next((k for k in pattern if k == "metadata" or anchor(k)[1] == "metadata"), None)
    if meta_key is None or not isinstance(pattern[meta_key], dict):
        return pattern
    resource_meta = resource.get("metadata")
    if not isinstance(resource_meta, dict):
        return pattern
    meta = dict(pattern[meta_key])
    for tag in ("labels", "annotations"):
        tag_key = next((k for k in meta if k == tag or anchor(k)[1] == tag), None)
        if tag_key is None or not isinstance(meta[tag_key], dict):
            continue
        res_key = next((k for k in resource_meta if k == tag or anchor(k)[1] == tag), None)
        res_tags = resource_meta.get(res_key) if res_key else None
        if not isinstance(res_tags, dict):
            continue
        have = {k: v for k, v in res_tags.items() if isinstance(v, str)}
        out: dict[str, Any] = {}
        for k, v in meta[tag_key].items():
            if not isinstance(v, str):
                continue
            if "*" in k or "?" in k:
                kind, name = anchor(k)
                target = name if kind else k
                found = next((rk for rk in have if wildcard(target, rk)), target)
                out[f"{kind if kind != '(' else ''}({found})" if kind else found] = v
            else:
                out[k] = v
        meta[tag_key] = out
    return {**pattern, meta_key: meta}
