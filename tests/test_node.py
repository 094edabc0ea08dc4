"""policygen node: the kubelet's half of cached-image isolation (KEP-2535)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from policygen import config, node
from policygen.cli import app
from tests.conftest import EXAMPLE


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["node", "-c", str(EXAMPLE), "--now", "2026-11-28", *args])
    return result.exit_code, result.stdout, result.stderr


def test_newest_version_fragment_allowlists_only_the_shared_registries() -> None:
    code, out, err = run()
    assert code == 0
    assert out == (
        "# KubeletConfiguration fragment from policygen for acme, Kubernetes 1.36.\n"
        "# Merge into each node's kubelet config (or a drop-in under --config-dir).\n"
        "apiVersion: kubelet.config.k8s.io/v1beta1\n"
        "kind: KubeletConfiguration\n"
        "imagePullCredentialsVerificationPolicy: NeverVerifyAllowlistedImages\n"
        "preloadedImagesVerificationAllowlist:\n"
        "- registry.k8s.io/pause\n"
        "- registry.k8s.io/pause/*\n"
        "- harbor.corp.example/infra\n"
        "- harbor.corp.example/infra/*\n"
    )
    assert (
        err == "policygen: node: beta in 1.36: on by default; policy NeverVerifyAllowlistedImages\n"
    )


def test_alpha_versions_enable_the_feature_gate() -> None:
    code, out, _ = run("--kubernetes-version", "v1.33.4")
    assert code == 0
    # KubeletEnsureSecretPulledImages is off by default while alpha (1.33, 1.34)
    assert yaml.safe_load(out)["featureGates"] == {"KubeletEnsureSecretPulledImages": True}
    _, out, _ = run("--kubernetes-version", "1.35")
    assert "featureGates" not in yaml.safe_load(out)


def test_versions_without_the_kubelet_check_are_refused() -> None:
    code, out, err = run("--kubernetes-version", "1.32")
    assert (code, out) == (2, "")
    assert err == (
        "policygen: Kubernetes 1.32: the kubelet has no credential verification for cached "
        "images (unavailable before 1.33); imagePullPolicy: Always at admission is the only "
        "protection\n"
    )
    code, _, err = run("--kubernetes-version", "latest")
    assert code == 2
    assert (
        err
        == "policygen: --kubernetes-version: 'latest' is not a Kubernetes version such as 1.36\n"
    )


def test_no_shared_registries_means_every_cached_image_is_verified(tmp_path: Path) -> None:
    cfg = tmp_path / "policygen.yaml"
    cfg.write_text(
        EXAMPLE.read_text()
        .replace("        - registry.k8s.io/pause\n", "")
        .replace("        - harbor.corp.example/infra\n", "")
        .replace("      allowed:\n", "      allowed: []\n")
    )
    posture = node.posture(config.load(cfg, today=None))
    assert (posture.policy, posture.allowlist) == ("AlwaysVerify", ())
    assert "preloadedImagesVerificationAllowlist" not in yaml.safe_load(posture.fragment)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        # a host alone has no repository of its own: only what is below it
        ("ghcr.io", ("ghcr.io/*",)),
        ("registry.k8s.io/pause", ("registry.k8s.io/pause", "registry.k8s.io/pause/*")),
        ("harbor.x:8443/infra", ("harbor.x:8443/infra", "harbor.x:8443/infra/*")),
    ],
)
def test_allowlist_entries_are_names_without_tags(entry: str, expected: tuple[str, ...]) -> None:
    data = config.load(EXAMPLE, today=None).model_dump()
    data["spec"]["rules"]["registries"]["allowed"] = [entry]
    assert node.allowlist(config.Config.model_validate(data)) == expected
