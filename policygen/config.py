"""The ``policygen.yaml`` model (SPEC §2), its loader and its cross-field checks.

Schema errors and cross-field errors are both reported as ``file:line:col:
field: message``, every problem at once, sorted. Nothing is written on error.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from policygen import clock, globs, overlap, versions
from policygen.errors import ConfigError, InputError, Problem
from policygen.imageref import DOMAIN_AND_PORT, LEGACY_DEFAULT_DOMAIN, PATH_COMPONENT
from policygen.rules import NAMES as RULES  # the rules' names come from the rule table
from policygen.rules import RuleName
from policygen.yamlio import (
    LocatedYamlError,
    dotted,
    load_with_positions,
    position_of,
    read_bounded,
)
from policygen.yamlsafe import Positions, encoding_problem

API_VERSION = "policygen.dev/v1alpha1"
KIND = "ImagePolicyConfig"
ValidateAction = Literal["deny", "warn", "audit", "off"]
PullAction = Literal["deny", "warn", "audit", "mutate", "off"]

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
NAMESPACE_GLOB = r"^[a-z0-9*?]([-a-z0-9*?]*[a-z0-9*?])?$"
_ENTRY = re.compile(rf"^{DOMAIN_AND_PORT}(?:/{PATH_COMPONENT})*$")

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
NamespaceGlob = Annotated[str, Field(pattern=NAMESPACE_GLOB, max_length=63)]


def _known_target(name: str) -> str:
    """A target of the registry; said as pydantic says a Literal's."""
    from policygen.targets import names  # the targets import this module

    known = names()
    if name not in known:
        expected = ", ".join(f"'{n}'" for n in known[:-1]) + f" or '{known[-1]}'"
        raise ValueError(f"Input should be {expected}")
    return name


def _target_enum(schema: dict[str, Any]) -> None:
    from policygen.targets import names

    schema["enum"] = list(names())


TargetName = Annotated[str, AfterValidator(_known_target), Field(json_schema_extra=_target_enum)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Label syntax as the API server validates it (apimachinery
# pkg/util/validation: IsQualifiedName, IsValidLabelValue).
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a label key (``[prefix/]name``), or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return f"label key '{key}': the prefix before '/' must not be empty"
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return (
            f"label key '{key}': the prefix must be a DNS subdomain "
            "(lowercase alphanumerics, '-' and '.', at most 253 characters)"
        )
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return (
            f"label key '{key}': the name must be at most 63 alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    return None


def label_value_problem(value: str) -> str | None:
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        return (
            f"label value '{value}': at most 63 alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric (or empty)"
        )
    return None


def _label_key(key: str) -> str:
    why = label_key_problem(key)
    if why:
        raise ValueError(why)
    return key


def _label_value(value: str) -> str:
    why = label_value_problem(value)
    if why:
        raise ValueError(why)
    return value


LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]


class Requirement(Strict):
    key: LabelKey
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[LabelValue] = []

    @model_validator(mode="after")
    def _values_fit_the_operator(self) -> Requirement:
        # ValidateLabelSelectorRequirement: In/NotIn need values, Exists and
        # DoesNotExist take none.
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"values: must be given when the operator is {self.operator}")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"values: must be empty when the operator is {self.operator}")
        return self


class LabelSelector(Strict):
    """A Kubernetes LabelSelector; empty selects everything."""

    matchLabels: dict[LabelKey, LabelValue] = {}
    matchExpressions: list[Requirement] = []

    @property
    def empty(self) -> bool:
        return not self.matchLabels and not self.matchExpressions

    def matches(self, labels: dict[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.matchLabels.items()):
            return False
        for req in self.matchExpressions:
            present = req.key in labels
            if req.operator == "In" and not (present and labels[req.key] in req.values):
                return False
            if req.operator == "NotIn" and present and labels[req.key] in req.values:
                return False
            if req.operator == "Exists" and not present:
                return False
            if req.operator == "DoesNotExist" and present:
                return False
        return True


class Metadata(Strict):
    name: DnsLabel = Field(description="DNS-1123 label; prefix of every generated object name")


class Scope(Strict):
    namespaces: list[NamespaceGlob] = Field(default=["*"], min_length=1)
    excludeNamespaces: list[NamespaceGlob] = ["kube-system", "kube-public", "kube-node-lease"]
    namespaceSelector: LabelSelector = LabelSelector()


class DigestRule(Strict):
    action: ValidateAction = "deny"
    algorithms: list[Literal["sha256", "sha512"]] = Field(default=["sha256"], min_length=1)
    namespaces: list[NamespaceGlob] = Field(
        default=[], description="optional narrower opt-in scope; empty means the whole scope"
    )


class PullPolicyRule(Strict):
    action: PullAction = "deny"


class RegistriesRule(Strict):
    action: ValidateAction = "deny"
    allowed: list[str] = Field(default=[], description="shared by every namespace in scope")


class Rules(Strict):
    digest: DigestRule = DigestRule()
    pullPolicy: PullPolicyRule = PullPolicyRule()
    registries: RegistriesRule = RegistriesRule()

    def action(self, rule: str) -> str:
        action: str = getattr(self, rule).action
        return action


class Tenant(Strict):
    name: DnsLabel
    namespaces: list[NamespaceGlob] = []
    namespaceSelector: LabelSelector | None = None
    registries: list[str] = Field(min_length=1)


class Exemption(Strict):
    name: DnsLabel
    rules: list[RuleName] = list(RULES)
    namespaces: list[NamespaceGlob] = ["*"]
    images: list[Annotated[str, Field(min_length=1)]] = ["*"]
    reason: Annotated[str, Field(min_length=1)]
    owner: Annotated[str, Field(min_length=1)]
    expires: dt.date
    ticket: str | None = None

    @field_validator("expires", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            raise ValueError("expires takes a date (YYYY-MM-DD), not a timestamp")
        return value


class ScanSettings(Strict):
    ignore: list[Annotated[str, Field(min_length=1)]] = Field(
        default=[],
        description="globs of files and folders policygen scan leaves out, relative to this "
        "file's folder (.gitignore-like: '*' within a name, '**' across folders, "
        "a trailing '/' for folders)",
    )


def _version_text(value: Any) -> Any:
    if isinstance(value, float | int) and not isinstance(value, bool):
        raise ValueError(
            f"write the version as a string ('{value}' in quotes): YAML reads an unquoted "
            "1.30 as the number 1.3"
        )
    if isinstance(value, str):
        versions.parse(value)  # ValueError names what is wrong
    return value


VersionText = Annotated[str, BeforeValidator(_version_text)]


def _range(engine: versions.Engine, example: str) -> str:
    oldest, newest = versions.SUPPORTED[engine]
    return f"{engine} minor, e.g. '{example}' ({versions.show(oldest)} to {versions.show(newest)})"


class EngineVersions(Strict):
    """The releases the bundle is built for: each chooses the API versions
    and kinds that exist there (policygen/versions.py). Absent: the newest
    release policygen supports."""

    kubernetes: VersionText | None = Field(default=None, description=_range("kubernetes", "1.30"))
    kyverno: VersionText | None = Field(default=None, description=_range("kyverno", "1.17"))
    gatekeeper: VersionText | None = Field(default=None, description=_range("gatekeeper", "3.20"))


class Spec(Strict):
    targets: list[TargetName] = Field(min_length=1)
    scope: Scope = Scope()
    rules: Rules = Rules()
    tenants: list[Tenant] = []
    exemptions: list[Exemption] = []
    scan: ScanSettings = ScanSettings()
    versions: EngineVersions = EngineVersions()


class Config(Strict):
    apiVersion: Literal["policygen.dev/v1alpha1"]
    kind: Literal["ImagePolicyConfig"]
    metadata: Metadata
    spec: Spec

    @property
    def name(self) -> str:
        return self.metadata.name


def json_schema() -> dict[str, Any]:
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "policygen ImagePolicyConfig"
    return schema


#: A config with a thousand tenants is about 200 KiB.
MAX_CONFIG_BYTES = 4 * 2**20


def load(path: Path, *, today: dt.date | None = None, allow_lapsed: bool = False) -> Config:
    """Read, validate and cross-check a config file; raise :class:`ConfigError`.

    ``today`` (a date or an instant) is the clock exemptions lapse by; a
    lapsed one is an error unless ``allow_lapsed``: the evaluators accept it
    and prove what the cluster does at that clock (the exemption no longer
    holds there), so CI can check tomorrow's verdicts today."""
    filename = str(path)
    try:
        data = read_bounded(path, MAX_CONFIG_BYTES)
    except InputError as exc:
        raise ConfigError(exc.problems) from None
    why = encoding_problem(data[:8192])
    if why and why != "binary file":  # a stray NUL is better shown at its line
        raise ConfigError([Problem(filename, 0, 0, "", why)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        bad = data[exc.start]
        raise ConfigError(
            [Problem(filename, line, column, "", f"not UTF-8 text (byte 0x{bad:02x})")]
        ) from None
    return parse(text, filename, today=today, allow_lapsed=allow_lapsed)


def parse(
    text: str, filename: str, *, today: dt.date | None = None, allow_lapsed: bool = False
) -> Config:
    try:
        data, positions = load_with_positions(text, filename)
    except LocatedYamlError as exc:
        raise ConfigError(exc.problems) from exc
    if not isinstance(data, dict):
        raise ConfigError([Problem(filename, 1, 1, "", "the config must be a YAML mapping")])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_schema_problems(exc, positions, filename)) from exc
    problems = cross_check(config, clock.now() if today is None else today, allow_lapsed)
    if problems:
        raise ConfigError(
            [
                Problem(filename, *position_of(positions, path), dotted(path), message)
                for path, message in problems
            ]
        )
    return config


def _schema_problems(exc: ValidationError, positions: Positions, filename: str) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        out.append(Problem(filename, *position_of(positions, loc), dotted(loc), message))
    return out


CrossProblem = tuple[tuple[str | int, ...], str]


def registry_entry_problem(entry: str) -> str | None:
    """Why a registry entry is malformed, or None. Entries are normalised
    ``host[:port][/path]`` so that matching on a segment boundary is exact."""
    if "://" in entry:
        return "registry entries take no scheme (write host[:port]/path)"
    if entry != entry.lower():
        return "registry entries must be lowercase (image hosts are matched case-sensitively)"
    if entry.endswith("/"):
        return "registry entries take no trailing slash (matching is on path-segment boundaries)"
    if "//" in entry or entry.startswith("/"):
        return "registry entries must not have empty path segments"
    if "@" in entry or (":" in entry.split("/", 1)[-1] and "/" in entry):
        return "registry entries name a repository prefix, not a tag or digest"
    if "*" in entry or "?" in entry:
        return "registry entries are prefixes, not globs"
    if not _ENTRY.fullmatch(entry) or entry.startswith("["):
        return "not a valid registry host[:port][/path]"
    host = entry.split("/", 1)[0]
    if "." not in host and ":" not in host and host != "localhost":
        return (
            f"'{host}' is not a registry host (it has no dot or port); "
            f"Docker Hub repositories are written docker.io/{entry}"
        )
    if host == LEGACY_DEFAULT_DOMAIN:
        return "write docker.io, the normalised form of index.docker.io"
    return None


def cross_check(config: Config, today: dt.date, allow_lapsed: bool = False) -> list[CrossProblem]:
    spec = config.spec
    problems: list[CrossProblem] = []
    if len(set(spec.targets)) != len(spec.targets):
        problems.append((("spec", "targets"), "each target may be listed once"))

    problems.extend(versions.problems(config))

    from policygen import targets  # the targets import this module

    # What each selected target can express (globs, mutation, its own limits).
    problems.extend(targets.config_problems(config))

    shared = spec.rules.registries.allowed
    for i, entry in enumerate(shared):
        why = registry_entry_problem(entry)
        if why:
            problems.append((("spec", "rules", "registries", "allowed", i), why))

    seen_tenants: dict[str, int] = {}
    seen_selectors: dict[tuple[Any, ...], str] = {}
    for t, tenant in enumerate(spec.tenants):
        base = ("spec", "tenants", t)
        if tenant.name in seen_tenants:
            problems.append((base + ("name",), f"tenant '{tenant.name}' is defined twice"))
        seen_tenants[tenant.name] = t
        if not tenant.namespaces and tenant.namespaceSelector is None:
            problems.append((base, "a tenant needs namespaces and/or a namespaceSelector"))
        if tenant.namespaceSelector is not None:
            key = _selector_key(tenant.namespaceSelector)
            first = seen_selectors.setdefault(key, tenant.name)
            if first != tenant.name:
                problems.append(
                    (
                        base + ("namespaceSelector",),
                        f"the same namespaceSelector as tenant '{first}': "
                        "every namespace it selects would belong to both",
                    )
                )
        for r, entry in enumerate(tenant.registries):
            why = registry_entry_problem(entry)
            if why:
                problems.append((base + ("registries", r), why))
                continue
            for s, shared_entry in enumerate(shared):
                if _covers(shared_entry, entry):
                    problems.append(
                        (
                            base + ("registries", r),
                            f"shared registry entry '{shared_entry}' "
                            f"(spec.rules.registries.allowed[{s}]) covers this tenant registry, "
                            "so every namespace could use it and tenant isolation would be void",
                        )
                    )

    # Tenants that overlap, found through an index rather than pair by pair
    # (policygen.overlap): a thousand tenants must validate in a blink.
    tenants = spec.tenants
    first_clash: dict[tuple[int, int, int], int] = {}
    for t, n, o, j in overlap.glob_pairs([x.namespaces for x in tenants]):
        first_clash[(t, n, o)] = min(j, first_clash.get((t, n, o), j))
    for (t, n, o), j in sorted(first_clash.items()):
        problems.append(
            (
                ("spec", "tenants", t, "namespaces", n),
                f"namespace glob '{tenants[t].namespaces[n]}' overlaps "
                f"'{tenants[o].namespaces[j]}' of tenant '{tenants[o].name}': "
                "a namespace must belong to one tenant",
            )
        )
    valid = [
        [e if registry_entry_problem(e) is None else "" for e in x.registries] for x in tenants
    ]
    for t, r, o, j in overlap.entry_pairs(valid):
        if valid[t][r] and valid[o][j]:
            problems.append(
                (
                    ("spec", "tenants", t, "registries", r),
                    f"registry '{valid[t][r]}' overlaps '{valid[o][j]}' of tenant "
                    f"'{tenants[o].name}': each tenant's images must be its own",
                )
            )

    seen_exemptions: set[str] = set()
    for e, exemption in enumerate(spec.exemptions):
        base = ("spec", "exemptions", e)
        if exemption.name in seen_exemptions:
            problems.append((base + ("name",), f"exemption '{exemption.name}' is defined twice"))
        seen_exemptions.add(exemption.name)
        if not allow_lapsed and not clock.live(exemption.expires, today):
            problems.append(
                (
                    base + ("expires",),
                    f"exemption expired on {exemption.expires.isoformat()} "
                    f"(today is {clock.instant(today).date().isoformat()}); "
                    "renew it or remove it",
                )
            )
        if exemption.namespaces == ["*"] and exemption.images == ["*"]:
            problems.append(
                (base, "an exemption must narrow by namespaces, images or both; use action: off")
            )
    return problems


def _selector_key(selector: LabelSelector) -> tuple[Any, ...]:
    """A selector with its order taken out: two selectors with equal keys
    select the same namespaces."""
    labels = tuple(sorted(selector.matchLabels.items()))
    exprs = tuple(
        sorted((r.key, r.operator, tuple(sorted(set(r.values)))) for r in selector.matchExpressions)
    )
    return (labels, exprs)


def _covers(entry: str, other: str) -> bool:
    return other == entry or other.startswith(entry + "/")


def starter() -> str:
    """The commented starter config ``policygen init`` writes, naming the
    targets of the registry."""
    from policygen.targets import names

    return STARTER.replace("{targets}", ", ".join(names()))


STARTER = """\
# policygen.yaml: one config, admission policies for every engine.
# Docs: policygen schema > policygen.schema.json gives editors completion.
apiVersion: policygen.dev/v1alpha1
kind: ImagePolicyConfig
metadata:
  name: acme                      # DNS-1123 label; prefix of every generated object name
spec:
  # Any of: {targets}
  targets: [kyverno, gatekeeper]
  scope:
    namespaces: ["*"]             # globs; '*' only as prefix or suffix (Gatekeeper's limit)
    excludeNamespaces: [kube-system, kube-public, kube-node-lease]
  rules:
    digest:
      action: audit               # deny | warn | audit | off: audit first, then enforce
      algorithms: [sha256]
    pullPolicy:
      action: deny                # deny | warn | audit | mutate | off
    registries:
      action: deny
      allowed: [registry.k8s.io]  # shared by every namespace in scope
  tenants: []
  #  - name: team-a
  #    namespaces: [team-a, team-a-*]
  #    registries: [harbor.example.com/team-a]
  exemptions: []
  #  - name: vendor-chart
  #    rules: [digest]
  #    namespaces: [logging]
  #    images: ["harbor.example.com/infra/scraper:*"]
  #    reason: vendor chart pins by tag until 28.0
  #    owner: platform@example.com
  #    expires: 2027-03-31
"""


def in_scope(config: Config, ns: str) -> bool:
    """The namespace is one of scope.namespaces and not excluded (selectors
    aside: they need the Namespace object)."""
    scope = config.spec.scope
    return globs.match_any(scope.namespaces, ns) and not globs.match_any(
        scope.excludeNamespaces, ns
    )
