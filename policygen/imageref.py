"""Image references: the one place that parses and normalises them.

Follows the distribution reference grammar (github.com/distribution/reference,
``regexp.go`` and ``normalize.go``), which is what the API server, the kubelet,
Kyverno and containerd all use. Nothing else in policygen may split an image
string by hand; engines that must do it in their own language receive the
regular expressions below as data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255

# Grammar pieces, written RE2-compatible (no look-arounds) because the same
# strings are handed to OPA, CEL and Kyverno, which all use Go's RE2.
ALPHANUMERIC = r"[a-z0-9]+"
SEPARATOR = r"(?:[._]|__|[-]+)"
PATH_COMPONENT = rf"{ALPHANUMERIC}(?:{SEPARATOR}{ALPHANUMERIC})*"
DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
IPV6_ADDRESS = r"\[(?:[a-fA-F0-9:]+)\]"
HOST = rf"(?:{DOMAIN_COMPONENT}(?:\.{DOMAIN_COMPONENT})*|{IPV6_ADDRESS})"
DOMAIN_AND_PORT = rf"{HOST}(?::[0-9]+)?"
TAG_LENGTH_MAX = 128
TAG_FIRST = r"[A-Za-z0-9_]"
TAG_REST = r"[A-Za-z0-9_.-]"
TAG = rf"{TAG_FIRST}{TAG_REST}{{0,{TAG_LENGTH_MAX - 1}}}"
#: Digests a reference may carry. The grammar's own digest is wider
#: (``[A-Za-z][A-Za-z0-9]*…:[[:xdigit:]]{32,}``), but ``Parse`` hands it to
#: go-digest's ``digest.Parse``, which refuses an algorithm that is not
#: registered and any encoding but the algorithm's exact length of lowercase
#: hex (go-digest ``algorithm.go``: ``Validate``). Kubernetes registers
#: sha256, sha384 and sha512 (k8s ``pkg/util/parsers`` imports
#: ``crypto/sha256`` and ``crypto/sha512``); blake3 only with its own import.
#: So ``@sha256:ABC…`` (upper-case hex) or ``@md5:…`` is no reference at all.
REFERENCE_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}
DIGEST_ALGORITHM = "(?:" + "|".join(sorted(REFERENCE_DIGEST_HEX_LENGTH)) + ")"
HEX = r"[0-9a-f]"
DIGEST = (
    "(?:"
    + "|".join(f"{a}:{HEX}{{{n}}}" for a, n in sorted(REFERENCE_DIGEST_HEX_LENGTH.items()))
    + ")"
)
NAME = rf"(?:{DOMAIN_AND_PORT}/)?{PATH_COMPONENT}(?:/{PATH_COMPONENT})*"

#: Anchored reference grammar; group 1 name, 2 tag, 3 digest. Python's
#: ``$`` also matches before a final newline, so Python code matches it
#: with ``fullmatch`` (RE2, which every engine uses, reads ``$`` as the end).
REFERENCE_RE = rf"^({NAME})(?::({TAG}))?(?:@({DIGEST}))?$"
_REFERENCE = re.compile(REFERENCE_RE)

#: The grammar without its counted repetitions: a string matches
#: REFERENCE_RE exactly when it matches this, its tag has at most
#: TAG_LENGTH_MAX characters and its digest's hex has exactly its
#: algorithm's length (REFERENCE_DIGEST_HEX_LENGTH). For engines that
#: compile a regex on every use (the C++ CEL runtime does), where the counted
#: form costs six times as much.
UNBOUNDED_REFERENCE_RE = (
    rf"^({NAME})(?::({TAG_FIRST}{TAG_REST}*))?(?:@({DIGEST_ALGORITHM}:{HEX}+))?$"
)

#: ``ParseNormalizedNamed`` refuses a reference that is only 64 lowercase
#: hex characters ("cannot specify 64-byte hexadecimal strings"): that is an
#: image ID, not a name (distribution/reference ``normalize.go``).
IDENTIFIER_RE = "^[a-f0-9]{64}$"
_IDENTIFIER = re.compile(IDENTIFIER_RE)

#: Exact digest shapes policygen accepts as pins, by algorithm.
DIGEST_HEX_LENGTH = {"sha256": 64, "sha512": 128}


class InvalidReference(ValueError):
    """The string is not an image reference under the distribution grammar."""


@dataclass(frozen=True)
class ImageRef:
    """A parsed, normalised image reference."""

    original: str
    domain: str  # host[:port], normalised (docker.io for Docker Hub)
    path: str  # repository path, with library/ for official images
    tag: str | None
    digest: str | None  # "algorithm:hex" as written

    @property
    def name(self) -> str:
        """``domain/path``: what registry allow-lists match against."""
        return f"{self.domain}/{self.path}"

    @property
    def normalized(self) -> str:
        """The fully qualified reference; an image with neither tag nor digest
        means ``:latest``, as the container runtime resolves it."""
        out = self.name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        if self.tag is None and self.digest is None:
            out += ":latest"
        return out

    @property
    def digest_algorithm(self) -> str | None:
        return None if self.digest is None else self.digest.split(":", 1)[0]


def split_domain(name: str) -> tuple[str, str]:
    """Split a reference name into domain and path the way distribution's
    ``splitDockerDomain`` does: the first component is a domain only when it
    has a dot, a colon, upper-case letters, or is ``localhost``."""
    first, sep, rest = name.partition("/")
    if not sep or (
        "." not in first and ":" not in first and first != "localhost" and first.lower() == first
    ):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    return domain, path


def parse(image: str) -> ImageRef:
    """Parse and normalise as ``ParseNormalizedNamed`` does; raise
    :class:`InvalidReference` with the reason."""
    if not image:
        raise InvalidReference("empty image reference")
    if _IDENTIFIER.fullmatch(image):
        raise InvalidReference("a 64-character hex string is an image ID, not a reference")
    match = _REFERENCE.fullmatch(image)
    if match is None:
        raise InvalidReference("does not match the image reference grammar")
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    domain, path = split_domain(name)
    if path.lower() != path:
        raise InvalidReference("repository path must be lowercase")
    # Parse checks the length of the path once the name is normalised
    # (library/ included, the domain not): reference.go, ErrNameTooLong.
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(f"repository path longer than {NAME_TOTAL_LENGTH_MAX} characters")
    return ImageRef(original=image, domain=domain, path=path, tag=tag, digest=digest)


def try_parse(image: str) -> ImageRef | None:
    try:
        return parse(image)
    except InvalidReference:
        return None


def has_allowed_digest(ref: ImageRef, algorithms: Sequence[str]) -> bool:
    """True when the digest uses an allowed algorithm with exactly its
    length of lowercase hex (``@sha256:abc`` is a syntax error to a registry,
    not a pin)."""
    if ref.digest is None:
        return False
    algorithm, _, hex_part = ref.digest.partition(":")
    return (
        algorithm in algorithms
        and len(hex_part) == DIGEST_HEX_LENGTH[algorithm]
        and re.fullmatch("[0-9a-f]+", hex_part) is not None
    )


def digest_regex(algorithms: Sequence[str]) -> str:
    """RE2 regex for the digest part (after ``@``) of an acceptable pin."""
    alts = "|".join(f"{a}:[0-9a-f]{{{DIGEST_HEX_LENGTH[a]}}}" for a in sorted(algorithms))
    return f"^(?:{alts})$"


def digest_hint(algorithms: Sequence[str]) -> str:
    """Human form of the accepted digests, used verbatim in every engine's message."""
    return " or ".join(f"@{a}:<{DIGEST_HEX_LENGTH[a]} hex>" for a in sorted(algorithms))


@lru_cache(maxsize=4096)
def kubernetes_default_pull_policy(image: str) -> str:
    """``SetDefaults_Container``: ``Always`` for ``:latest`` or an image with
    neither tag nor digest, else ``IfNotPresent`` (including unparseable
    images, where the parser yields no tag)."""
    ref = try_parse(image)
    if ref is None:
        return "IfNotPresent"
    if ref.tag == "latest" or (ref.tag is None and ref.digest is None):
        return "Always"
    return "IfNotPresent"


def name_is_under(name: str, entry: str) -> bool:
    """Registry allow-list match on a path-segment boundary. ``entry`` is a
    normalised ``host[:port][/path]``; ``harbor.x/team-a`` covers
    ``harbor.x/team-a/app`` but neither ``harbor.x/team-ab`` nor
    ``harbor.x.evil/team-a``."""
    return name == entry or name.startswith(entry + "/")
