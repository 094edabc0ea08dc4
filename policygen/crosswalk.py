"""How each policygen rule maps onto the checks reviewers already see from
other scanners, and where policygen is stricter or looser.

Every identifier was read in the scanner's own source (the ``source`` of each
entry: repository and path), not taken from documentation. The comparison
is about semantics, checked by reading the check's code: what it parses,
which container lists it reads, how it treats an absent pull policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Relation = Literal["stricter", "looser", "different"]


@dataclass(frozen=True)
class Mapping:
    rule: str  # the policygen rule
    scanner: str
    check: str  # the scanner's identifier, as its users see it
    title: str
    source: str  # repository and path where the identifier is defined
    relation: Relation  # policygen compared with the scanner
    why: str


CROSSWALK: tuple[Mapping, ...] = (
    Mapping(
        "digest",
        "Checkov",
        "CKV_K8S_43",
        "Image should use digest",
        "bridgecrewio/checkov checkov/kubernetes/checks/resource/k8s/ImageDigest.py",
        "stricter",
        "Checkov passes any image containing '@'; policygen requires an allowed "
        "algorithm with exactly its length of lowercase hex, and checks image volumes too.",
    ),
    Mapping(
        "digest",
        "Trivy",
        "KSV013",
        "Image tag ':latest' used (use-specific-tags)",
        "aquasecurity/trivy-checks checks/kubernetes/ (KSV013)",
        "stricter",
        "Trivy has no digest check; KSV013 only refuses ':latest' or no tag, "
        "so a fixed but overwritable tag such as scraper:27.15 passes it.",
    ),
    Mapping(
        "digest",
        "kube-score",
        "container-image-tag",
        "Container Image Tag",
        "zegl/kube-score score/container/container.go",
        "stricter",
        "kube-score only refuses ':latest' or no tag, reads the text after the last "
        "':' (so 'host:5000/app' counts as tagged) and skips ephemeral containers.",
    ),
    Mapping(
        "digest",
        "Polaris",
        "tagNotSpecified",
        "Image tag should be specified",
        "FairwindsOps/polaris checks/tagNotSpecified.yaml",
        "stricter",
        "Polaris wants a tag other than ':latest' (the pattern '^.+:.+$', which "
        "'host:5000/app' also meets); a tag is exactly what can be overwritten.",
    ),
    Mapping(
        "pullPolicy",
        "Checkov",
        "CKV_K8S_15",
        "Image Pull Policy should be Always",
        "bridgecrewio/checkov checkov/kubernetes/checks/resource/k8s/ImagePullPolicyAlways.py",
        "stricter",
        "Checkov strips the digest before defaulting, so 'app@sha256:…' without a "
        "policy passes as if defaulted to Always; the API server defaults it to "
        "IfNotPresent, and policygen follows the API server.",
    ),
    Mapping(
        "pullPolicy",
        "kube-score",
        "container-image-pull-policy",
        "Container Image Pull Policy",
        "zegl/kube-score score/container/container.go",
        "stricter",
        "kube-score reads containers and initContainers only; policygen also checks "
        "ephemeral containers and image volumes.",
    ),
    Mapping(
        "pullPolicy",
        "Polaris",
        "pullPolicyNotAlways",
        "Image pull policy should be Always",
        "FairwindsOps/polaris checks/pullPolicyNotAlways.yaml",
        "different",
        "Polaris requires the field as written, so an absent policy on ':latest' "
        "fails there although the API server defaults it to Always; policygen "
        "defaults first, as admission sees it (and checks ephemeral containers "
        "and image volumes).",
    ),
    Mapping(
        "pullPolicy",
        "Kubescape",
        "C-0075",
        "Image pull policy on latest tag",
        "kubescape/regolibrary controls/C-0075-imagepullpolicyonlatesttag.json",
        "stricter",
        "Kubescape asks for Always only on 'latest-like' images (no tag, or a tag "
        "without digits such as 'alpine'); policygen asks it of every image.",
    ),
    Mapping(
        "registries",
        "Kubescape",
        "C-0078",
        "Images from allowed registry",
        "kubescape/regolibrary controls/C-0078-imagesfromallowedregistry.json",
        "stricter",
        "Kubescape has one cluster-wide list; policygen adds each tenant's own "
        "entries per namespace and matches on a path-segment boundary of the "
        "normalised name.",
    ),
    Mapping(
        "registries",
        "Kubescape",
        "C-0001",
        "Forbidden Container Registries",
        "kubescape/regolibrary controls/C-0001-forbiddencontainerregistries.json",
        "different",
        "A deny-list; policygen is an allow-list, so a registry nobody thought "
        "of is refused rather than admitted.",
    ),
    Mapping(
        "registries",
        "Trivy",
        "KSV034",
        "Container images from public registries used (no-public-registries)",
        "aquasecurity/trivy-checks checks/kubernetes/ (KSV034)",
        "different",
        "Trivy refuses a fixed list of public hosts; policygen allows only the "
        "configured prefixes, per tenant.",
    ),
)


def rows() -> list[list[str]]:
    """The cross-walk as table rows: rule, scanner, check, title, relation, why, source."""
    return [[m.rule, m.scanner, m.check, m.title, m.relation, m.why, m.source] for m in CROSSWALK]
