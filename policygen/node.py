"""The node side of the cached-image problem (KEP-2535, "ensure secret
pulled images"): the KubeletConfiguration fragment that makes the kubelet
re-check pull credentials before a Pod reuses a cached image.

Admission (``imagePullPolicy: Always``) and this kubelet setting are two
layers of one defence: admission decides what a Pod may ask for, the kubelet
decides whether a cached copy may be handed to a Pod that has not proven it
may pull it. Neither replaces the other, and neither pins a digest.

Facts, from kubernetes/kubernetes ``staging/src/k8s.io/kubelet/config/v1beta1/
types.go`` and the feature-gate page of kubernetes/website:

- feature gate ``KubeletEnsureSecretPulledImages``: alpha in 1.33 and 1.34
  (off by default), beta from 1.35 (on by default);
- ``imagePullCredentialsVerificationPolicy``: ``NeverVerify``,
  ``NeverVerifyPreloadedImages`` (the default), ``NeverVerifyAllowlistedImages``,
  ``AlwaysVerify``;
- ``preloadedImagesVerificationAllowlist``: image names without tag or
  digest, with an optional whole-segment ``/*`` suffix; read only under
  ``NeverVerifyAllowlistedImages``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from policygen.config import Config
from policygen.errors import PolicygenError

FEATURE_GATE = "KubeletEnsureSecretPulledImages"
FIRST_ALPHA = (1, 33)
FIRST_BETA = (1, 35)
DEFAULT_KUBERNETES = "1.36"

#: What admission still has to do with the kubelet check on, whatever the
#: version: the kubelet verifies credentials, it does not pin content.
ADMISSION_STILL_COVERS = (
    "Digests: a verified cached copy of an overwritten tag is still the old build "
    "(the scraper:27.15 incident); only a digest pins the content.",
    "Registries: the kubelet checks that a Pod may pull an image, not that its "
    "tenant may use that registry.",
    "Ephemeral containers (kubectl debug) arrive on the pods/ephemeralcontainers "
    "subresource, which the AlwaysPullImages admission plugin does not act on; "
    "policygen's rules match that subresource explicitly.",
    "Images pulled outside the kubelet (preloaded into node images) are exempt "
    "under the default NeverVerifyPreloadedImages; the fragment's allowlist "
    "narrows that exemption to the shared registries, which every tenant may use anyway.",
)


@dataclass(frozen=True)
class NodePosture:
    kubernetes: str
    gate: str  # "unavailable", "alpha: enable the gate", "beta: on by default"
    policy: str
    allowlist: tuple[str, ...]
    fragment: str  # the KubeletConfiguration YAML, "" when the version has none


def parse_version(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", text.strip())
    if match is None:
        raise PolicygenError(
            f"--kubernetes-version: '{text}' is not a Kubernetes version such as 1.36"
        )
    return int(match.group(1)), int(match.group(2))


def allowlist(config: Config) -> tuple[str, ...]:
    """The shared registries as kubelet allowlist entries. Every tenant may
    run images from them anyway, so exempting their preloaded copies from
    re-verification costs no isolation. An entry names a repository or a
    path prefix, so both the name itself and everything below it are listed."""
    out: list[str] = []
    for entry in config.spec.rules.registries.allowed:
        if "/" in entry:
            out.append(entry)
        out.append(f"{entry}/*")
    return tuple(out)


def posture(config: Config, kubernetes: str = DEFAULT_KUBERNETES) -> NodePosture:
    version = parse_version(kubernetes)
    if version < FIRST_ALPHA:
        return NodePosture(
            kubernetes,
            f"unavailable before {FIRST_ALPHA[0]}.{FIRST_ALPHA[1]}",
            "",
            (),
            "",
        )
    entries = allowlist(config)
    policy = "NeverVerifyAllowlistedImages" if entries else "AlwaysVerify"
    body: dict[str, object] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
    }
    if version < FIRST_BETA:
        body["featureGates"] = {FEATURE_GATE: True}
        gate = f"alpha in {kubernetes}: the feature gate must be enabled"
    else:
        gate = f"beta in {kubernetes}: on by default"
    body["imagePullCredentialsVerificationPolicy"] = policy
    if entries:
        body["preloadedImagesVerificationAllowlist"] = list(entries)
    fragment = (
        f"# KubeletConfiguration fragment from policygen for {config.name}, "
        f"Kubernetes {kubernetes}.\n"
        "# Merge into each node's kubelet config (or a drop-in under --config-dir).\n"
        + yaml.safe_dump(body, sort_keys=False)
    )
    return NodePosture(kubernetes, gate, policy, entries, fragment)
