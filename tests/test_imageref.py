from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policygen import imageref
from policygen.imageref import InvalidReference, parse

D64 = "0123456789abcdef" * 4

#: Images whose parse other engines' parsers must reproduce (Rego, CEL).
IMAGE_CASES = [
    "nginx",
    "nginx:1.25",
    "library/nginx",
    "docker.io/nginx",
    "docker.io/library/nginx:1",
    "index.docker.io/nginx",
    "index.docker.io/a/b",
    "bitnami/redis:7",
    "localhost/app",
    "localhost:5000/app:1",
    "localhost:5000",
    "myreg:5000/app",
    "Harbor.example/app",
    "Docker.io/app",
    "Reg/app",  # upper case alone makes a domain
    "[::1]:5000/app",
    f"ghcr.io/a/b:1@sha256:{D64}",
    f"ghcr.io/a/b@sha256:{D64}",
    f"nginx@sha256:{D64}",
    "a/" + "b" * 253,  # name of exactly 255
    "a/" + "b" * 253 + ":" + "t" * 20,  # long image, short enough name
    "a/" + "b" * 254,  # name of 256
    "",
    "Nginx",
    "nginx:",
    "nginx@sha256:abc",
    "ghcr.io/a b",
    "a//b",
]


@pytest.mark.parametrize(
    ("image", "normalized", "domain", "path", "tag", "digest"),
    [
        ("nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", None, None),
        ("nginx:1.25", "docker.io/library/nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        (
            "library/nginx",
            "docker.io/library/nginx:latest",
            "docker.io",
            "library/nginx",
            None,
            None,
        ),
        (
            "docker.io/nginx",
            "docker.io/library/nginx:latest",
            "docker.io",
            "library/nginx",
            None,
            None,
        ),
        (
            "index.docker.io/nginx",
            "docker.io/library/nginx:latest",
            "docker.io",
            "library/nginx",
            None,
            None,
        ),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
        ("localhost/app", "localhost/app:latest", "localhost", "app", None, None),
        ("localhost:5000/app:1", "localhost:5000/app:1", "localhost:5000", "app", "1", None),
        ("myreg:5000/app", "myreg:5000/app:latest", "myreg:5000", "app", None, None),
        ("Harbor.example/app", "Harbor.example/app:latest", "Harbor.example", "app", None, None),
        (
            f"ghcr.io/a/b:1@sha256:{D64}",
            f"ghcr.io/a/b:1@sha256:{D64}",
            "ghcr.io",
            "a/b",
            "1",
            f"sha256:{D64}",
        ),
        (
            f"ghcr.io/a/b@sha256:{D64}",
            f"ghcr.io/a/b@sha256:{D64}",
            "ghcr.io",
            "a/b",
            None,
            f"sha256:{D64}",
        ),
        ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000", "app", None, None),
    ],
)
def test_parse_and_normalise(
    image: str, normalized: str, domain: str, path: str, tag: str | None, digest: str | None
) -> None:
    ref = parse(image)
    assert (ref.normalized, ref.domain, ref.path, ref.tag, ref.digest) == (
        normalized,
        domain,
        path,
        tag,
        digest,
    )


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("", "empty image reference"),
        ("Nginx", "does not match the image reference grammar"),
        ("nginx:", "does not match the image reference grammar"),
        ("nginx@sha256:abc", "does not match the image reference grammar"),
        ("https://ghcr.io/a", "does not match the image reference grammar"),
        ("ghcr.io/a b", "does not match the image reference grammar"),
        ("a/" + "b" * 300, "repository path longer than 255 characters"),
        # go-digest validates the digest: exact length, lowercase hex,
        # a registered algorithm
        (f"a/b@sha256:{D64.upper()}", "does not match the image reference grammar"),
        (f"a/b@md5:{D64}", "does not match the image reference grammar"),
        (f"a/b@sha256:{D64}0", "does not match the image reference grammar"),
        # Python's $ would accept a final newline; distribution's does not
        (f"a/b@sha256:{D64}\n", "does not match the image reference grammar"),
        ("nginx\n", "does not match the image reference grammar"),
        (D64, "a 64-character hex string is an image ID, not a reference"),
    ],
)
def test_invalid(image: str, reason: str) -> None:
    with pytest.raises(InvalidReference, match=f"^{re.escape(reason)}$"):
        parse(image)


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        (f"nginx:latest@sha256:{D64}", "Always"),
        ("nginx:1", "IfNotPresent"),
        (f"nginx@sha256:{D64}", "IfNotPresent"),
        ("myreg:5000/app", "Always"),
        ("not valid!", "IfNotPresent"),
    ],
)
def test_api_server_default_pull_policy(image: str, policy: str) -> None:
    assert imageref.kubernetes_default_pull_policy(image) == policy


def test_digest_strictness() -> None:
    algos = ["sha256"]
    assert imageref.has_allowed_digest(parse(f"a/b@sha256:{D64}"), algos)
    assert imageref.try_parse(f"a/b@sha256:{D64.upper()}") is None  # no reference at all
    assert not imageref.has_allowed_digest(parse(f"a/b@sha512:{D64 * 2}"), algos)
    assert imageref.has_allowed_digest(parse(f"a/b@sha512:{D64 * 2}"), ["sha512"])
    assert imageref.try_parse(f"a/b@sha256:{D64}0") is None


# distribution/reference's own cases (reference_test.go, normalize_test.go
# at 0965666), in our words: the length limit is on the normalised path,
# without the domain; an image ID is not a name; digests are go-digest's.
@pytest.mark.parametrize(
    ("image", "valid"),
    [
        ("domain/" + "a" * 256 + ":tag", False),
        ("a/" * 127 + "a:tag-puts-this-over-max", True),
        ("example.com/" + "a" * 255 + ":tag", True),
        ("example.com/" + "a" * 256, False),
        ("a" * 247, True),  # docker.io/library/ + 247 = a path of 255
        ("a" * 248, False),  # library/ takes it over
        ("repo@sha256:" + "f" * 34, False),
        ("validname@invaliddigest:" + "f" * 64, False),
        (f"a/b@sha384:{'f' * 96}", True),  # Kubernetes registers sha384
        (f"a/b@sha512:{'f' * 128}", True),
        (D64, False),
        (f"{D64}:tag", True),  # only the bare ID is refused
        (f"docker.io/{D64}", True),
    ],
)
def test_upstream_reference_cases(image: str, valid: bool) -> None:
    assert (imageref.try_parse(image) is not None) is valid


def test_segment_boundary() -> None:
    assert imageref.name_is_under("harbor.x/team-a/app", "harbor.x/team-a")
    assert imageref.name_is_under("harbor.x/team-a", "harbor.x/team-a")
    assert not imageref.name_is_under("harbor.x/team-ab/app", "harbor.x/team-a")
    assert not imageref.name_is_under("harbor.x.evil.io/team-a/app", "harbor.x")
    assert not imageref.name_is_under("harbor.x:5000/app", "harbor.x")


# -- properties ----------------------------------------------------------------

component = st.from_regex(r"\A[a-z0-9]{1,5}(?:[._-][a-z0-9]{1,4}){0,2}\Z")
host = st.sampled_from(
    [
        "docker.io",
        "index.docker.io",
        "ghcr.io",
        "harbor.corp.example",
        "localhost",
        "reg:5000",
        "Reg.io",
    ]
)
tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}\Z")
digest = st.sampled_from([f"sha256:{D64}", f"sha512:{D64 * 2}"])


@st.composite
def references(draw: st.DrawFn) -> str:
    parts = draw(st.lists(component, min_size=1, max_size=3))
    name = "/".join(parts)
    if draw(st.booleans()):
        name = f"{draw(host)}/{name}"
    if draw(st.booleans()):
        name += f":{draw(tag)}"
    if draw(st.booleans()):
        name += f"@{draw(digest)}"
    return name


@given(references())
def test_normalisation_is_idempotent(image: str) -> None:
    ref = parse(image)
    again = parse(ref.normalized)
    assert again.normalized == ref.normalized
    assert again.name == ref.name


@given(references())
def test_normal_form_is_fully_qualified(image: str) -> None:
    ref = parse(image)
    assert ref.domain != "index.docker.io"
    assert ref.domain != "docker.io" or "/" in ref.path
    assert ref.normalized.startswith(ref.domain + "/")


@given(st.text(max_size=40))
def test_parser_never_crashes(text: str) -> None:
    with contextlib.suppress(InvalidReference):
        parse(text)


@given(
    st.one_of(
        references(),
        st.text(max_size=40),
        st.sampled_from(["a:" + "t" * 129, f"a@sha256:{D64}0", f"a@sha384:{D64}", "a\n"]),
    )
)
def test_unbounded_grammar_plus_lengths_is_the_grammar(text: str) -> None:
    strict = re.fullmatch(imageref.REFERENCE_RE, text)
    loose = re.fullmatch(imageref.UNBOUNDED_REFERENCE_RE, text)
    if loose is None:
        assert strict is None
        return
    tag, digest = loose.group(2) or "", loose.group(3) or ""
    algorithm, _, hex_part = digest.partition(":")
    exact = not digest or len(hex_part) == imageref.REFERENCE_DIGEST_HEX_LENGTH[algorithm]
    fits = len(tag) <= imageref.TAG_LENGTH_MAX and exact
    assert (strict is not None) == fits
