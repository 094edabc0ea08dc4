"""Kyverno's ``images`` variable (pkg/utils/image/infos.go)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from policygen import imageref
from policygen.workloads import CONTAINER_LISTS, POD_SPEC_PATHS


def images(obj: Mapping[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """Kyverno's ``images.<list>.<container>`` (pkg/utils/image/infos.go):
    registry kept as written (``index.docker.io`` too), ``docker.io`` when
    absent, the path as written (no ``library/``), tag ``latest`` when there
    is neither tag nor digest. Unparseable images are left out."""
    spec: Any = obj
    for path in POD_SPEC_PATHS.get(str(obj.get("kind", "")), ()):
        spec = spec.get(path) if isinstance(spec, dict) else None
    out: dict[str, dict[str, dict[str, str]]] = {}
    if not isinstance(spec, dict):
        return out
    for list_name in CONTAINER_LISTS:
        for c in spec.get(list_name) or []:
            if not isinstance(c, dict) or not isinstance(c.get("image"), str):
                continue
            info = image_info(c["image"])
            if info is not None:
                out.setdefault(list_name, {})[str(c.get("name", ""))] = info
    return out


_REFERENCE = re.compile(imageref.REFERENCE_RE)


@lru_cache(maxsize=4096)
def image_info(image: str) -> dict[str, str] | None:
    """GetImageInfo of kyverno pkg/utils/image/infos.go, with the default
    registry docker.io and registry mutation on (the Helm defaults)."""
    first, sep, _ = image.partition("/")
    domain_like = "." in first or ":" in first or first == "localhost" or first.lower() != first
    full = image if sep and domain_like else f"docker.io/{image}"
    m = _REFERENCE.fullmatch(full)
    if m is None or len(m.group(1)) > 255:
        return None
    registry, _, path = m.group(1).partition("/")
    tag, digest = m.group(2) or "", m.group(3) or ""
    if not tag and not digest:
        tag = "latest"
    # distribution's reference.Parse keeps the path as written: ``nginx``
    # stays ``nginx`` (ParseNormalizedNamed would add library/; Kyverno does not)
    reference_with_tag = f"{registry}/{path}:{tag}"
    name = path.rsplit("/", 1)[-1]
    reference = f"{registry}/{path}" + (f"@{digest}" if digest else f":{tag}")
    return {
        "registry": registry,
        "path": path,
        "name": name,
        "tag": tag,
        "digest": digest,
        "reference": reference,
        "referenceWithTag": reference_with_tag,
    }
