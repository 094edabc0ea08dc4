"""Finding registry credentials where docker, podman and skopeo keep them,
with a fake docker-credential helper speaking the helper protocol."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from policygen.credentials import Credentials, Store, explicit
from policygen.errors import RegistryError

SECRET = "hunter2-never-shown"


def auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def write(path: Path, content: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def store(home: Path, **env: str) -> Store:
    return Store(environ={"PATH": os.environ["PATH"], **env}, home=home)


def who(found: Credentials | None) -> tuple[str, str, str] | None:
    return None if found is None else (found.source, found.username, found.password)


def test_docker_config_auths(home: Path) -> None:
    config = write(
        home / ".docker/config.json",
        {
            "auths": {
                "harbor.corp.example": {"auth": auth("robot$ci", SECRET)},
                "https://index.docker.io/v1/": {"auth": auth("hubuser", "hubpw")},
                "http://old.example:5000/v2/": {"auth": auth("old", "oldpw")},
                "quay.example": {"identitytoken": "refresh"},
                "empty.example": {},
            }
        },
    )
    s = store(home)
    assert who(s.find("harbor.corp.example", "infra/scraper")) == (
        f"{config}: auths[harbor.corp.example]",
        "robot$ci",
        SECRET,
    )
    assert who(s.find("docker.io", "library/nginx")) == (
        f"{config}: auths[https://index.docker.io/v1/]",
        "hubuser",
        "hubpw",
    )
    assert who(s.find("old.example:5000", "a")) == (
        f"{config}: auths[http://old.example:5000/v2/]",
        "old",
        "oldpw",
    )
    token = s.find("quay.example", "a")
    assert token is not None and token.identity_token == "refresh" and token.basic is None
    # look-alike hosts get nothing; an empty entry (a helper's marker) is nothing
    assert s.find("harbor.corp.example.evil.io", "infra/scraper") is None
    assert s.find("corp.example", "harbor") is None
    assert s.find("empty.example", "a") is None


def test_containers_auth_json_namespaces_most_specific_first(home: Path) -> None:
    path = write(
        home / "auth.json",
        {
            "auths": {
                "harbor.x": {"auth": auth("host", "1")},
                "harbor.x/team-a": {"auth": auth("team", "2")},
                "harbor.x/team-a/app": {"auth": auth("app", "3")},
            }
        },
    )
    s = store(home, REGISTRY_AUTH_FILE=str(path))
    assert [
        who(s.find("harbor.x", p))[1]  # type: ignore[index]
        for p in ("team-a/app", "team-a/app2", "team-a/x/y", "team-ab/app", "b")
    ] == ["app", "team", "team", "host", "host"]


def test_the_files_searched_and_their_order(home: Path, tmp_path: Path) -> None:
    runtime = write(
        tmp_path / "run/containers/auth.json", {"auths": {"a.example": {"auth": auth("run", "1")}}}
    )
    xdg = write(
        home / ".config/containers/auth.json",
        {"auths": {"a.example": {"auth": auth("xdg", "2")}, "b.example": {"auth": auth("b", "3")}}},
    )
    docker = write(
        home / ".docker/config.json",
        {"auths": {"a.example": {"auth": auth("d", "4")}, "c.example": {"auth": auth("c", "5")}}},
    )
    s = store(home, XDG_RUNTIME_DIR=str(tmp_path / "run"))
    assert s.auth_files() == [runtime, xdg, docker]
    assert [who(s.find(h, "x"))[1] for h in ("a.example", "b.example", "c.example")] == [  # type: ignore[index]
        "run",
        "b",
        "c",
    ]
    # DOCKER_CONFIG and XDG_CONFIG_HOME move them
    moved = store(home, DOCKER_CONFIG="/d", XDG_CONFIG_HOME="/x")
    assert moved.auth_files() == [Path("/x/containers/auth.json"), Path("/d/config.json")]
    # REGISTRY_AUTH_FILE is the only file then, as in containers/image
    only = write(tmp_path / "only.json", {"auths": {}})
    s = store(home, REGISTRY_AUTH_FILE=str(only), XDG_RUNTIME_DIR=str(tmp_path / "run"))
    assert s.auth_files() == [only]
    assert s.find("a.example", "x") is None


@pytest.fixture
def helper(tmp_path: Path) -> Path:
    """docker-credential-fake: records the server it was asked about, and
    answers from a table, as the helpers in docker-credential-helpers do."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-fake"
    script.write_text(
        f"""#!/bin/sh
[ "$1" = get ] || exit 3
server=$(cat)
echo "$server" >> {tmp_path}/asked
case "$server" in
  harbor.corp.example) echo '{{"ServerURL":"harbor.corp.example","Username":"robot","Secret":"{SECRET}"}}' ;;
  https://index.docker.io/v1/) echo '{{"ServerURL":"","Username":"<token>","Secret":"idtok"}}' ;;
  broken.example) echo 'keychain locked'; exit 1 ;;
  json.example) echo '{{"Username":"u","Secret":"{SECRET}"}}'; exit 1 ;;
  garbage.example) echo 'not json' ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_cred_helpers_and_creds_store(home: Path, tmp_path: Path, helper: Path) -> None:
    config = write(
        home / ".docker/config.json",
        {
            "credHelpers": {"harbor.corp.example": "fake", "missing.example": "nothere"},
            "credsStore": "fake",
            "auths": {"plain.example": {"auth": auth("file", "pw")}},
        },
    )
    s = Store(environ={"PATH": f"{helper}:{os.environ['PATH']}"}, home=home)
    assert who(s.find("harbor.corp.example", "infra/scraper")) == (
        f"docker-credential-fake (from {config})",
        "robot",
        SECRET,
    )
    hub = s.find("docker.io", "library/nginx")
    assert hub is not None and hub.identity_token == "idtok" and hub.username == ""
    # the store knows nothing of it: the file's own entry answers
    assert who(s.find("plain.example", "x")) == (f"{config}: auths[plain.example]", "file", "pw")
    assert (tmp_path / "asked").read_text().splitlines() == [
        "harbor.corp.example",
        "https://index.docker.io/v1/",
        "plain.example",
    ]
    problems = {}
    for host in ("broken.example", "json.example", "garbage.example", "missing.example"):
        with pytest.raises(RegistryError) as info:
            s.find(host, "x")
        problems[host] = str(info.value)
    assert problems == {
        "broken.example": f"broken.example: docker-credential-fake (from {config}) failed "
        "(exit 1): keychain locked",
        "json.example": f"json.example: docker-credential-fake (from {config}) failed (exit 1)",
        "garbage.example": f"garbage.example: docker-credential-fake (from {config}) answered "
        "something other than credentials",
        "missing.example": f"missing.example: docker-credential-nothere (from {config}) "
        "is not installed",
    }


def test_bad_files_are_clear_errors_without_their_content(home: Path) -> None:
    config = home / ".docker/config.json"
    config.parent.mkdir(parents=True)
    cases = {
        f'{{"auths": {{"a.example": {{"auth": "{SECRET}"': f"{config}:1:",
        json.dumps({"auths": {"a.example": {"auth": "%%%" + SECRET}}}): (
            f"{config}: auths[a.example].auth is not base64 of user:password"
        ),
        json.dumps({"auths": [SECRET]}): f"{config}: auths is not an object",
        json.dumps({"credHelpers": {"a.example": "../../bin/sh"}}): (
            f"{config}: credHelpers[a.example] is not a credential helper name"
        ),
    }
    for text, message in cases.items():
        config.write_text(text)
        with pytest.raises(RegistryError) as info:
            store(home).find("a.example", "x")
        assert str(info.value).startswith(message)
        assert SECRET not in str(info.value)


def test_explicit_credentials_belong_to_one_registry() -> None:
    got = explicit("harbor.x", "ci", SECRET, {})
    assert (
        got is not None and got[0] == "harbor.x" and got[1].basic == "Basic " + auth("ci", SECRET)
    )
    s = Store(environ={}, home=Path("/nonexistent"), explicit=got)
    assert s.find("harbor.x", "a") is got[1]
    assert s.find("harbor.x.evil.io", "a") is None
    env = {"POLICYGEN_REGISTRY_USERNAME": "u", "POLICYGEN_REGISTRY_PASSWORD": SECRET}
    from_env = explicit("harbor.x", None, None, env)
    assert from_env is not None and from_env[1].basic == "Basic " + auth("u", SECRET)
    token = explicit("harbor.x", None, None, {"POLICYGEN_REGISTRY_TOKEN": "tok"})
    assert token is not None and token[1].registry_token == "tok"
    assert explicit(None, None, None, {}) is None
    url = explicit("https://harbor.x/", "ci", SECRET, {})
    assert url is not None and url[0] == "harbor.x"
    with pytest.raises(RegistryError, match="explicit credentials need --registry HOST"):
        explicit(None, "ci", SECRET, {})
    with pytest.raises(RegistryError, match="--username needs a password"):
        explicit("harbor.x", "ci", None, {})


def test_secrets_are_not_in_repr() -> None:
    shown = repr(Credentials("x", "ci", SECRET, identity_token=SECRET, registry_token=SECRET))
    assert shown == "Credentials(source='x', username='ci')"
