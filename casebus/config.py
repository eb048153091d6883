"""Deployment settings: `config/casebus.toml`, overridden by `CASEBUS_*` environment variables.

Validated once at load time; a bad file fails with the key path and the rule that broke.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from casebus import names
from casebus.topics import TopicNames

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "casebus.toml"

AgencyKind = Literal["SAMR", "CAC", "PSB", "COM"]
CompatibilityLevel = Literal[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
]


S = TypeVar("S", bound="Section")


class ConfigError(Exception):
    """The configuration is unusable; the message names the key and the rule."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalBroker(_Model):
    """The local cluster `casebus kafka start` runs: one node (the default), or `nodes`
    nodes, each a combined broker and controller of one quorum. Node n (1, 2, ...) listens
    on `port + 2(n-1)` for clients and `controller_port + 2(n-1)` for the quorum."""

    host: str = "127.0.0.1"
    port: int = Field(9092, ge=1, le=65535)
    controller_port: int = Field(9093, ge=1, le=65535)
    # None: as the state folder's cluster says (`kafka start --nodes N` records it), else 1.
    nodes: int | None = Field(None, ge=1, le=5)
    heap: str = "512m"
    # False: the JVM compiles with its first tier only, which starts the node sooner; True:
    # both tiers, as a production broker runs. Serving a TLS fetch then costs the broker a
    # fifth to a third of the CPU (docs/performance.md): benchmarks run with it. MirrorMaker
    # 2's JVM (`casebus mirror run`) follows the same choice.
    full_jit: bool = False
    start_timeout_seconds: float = Field(90, gt=0)

    @model_validator(mode="after")
    def _ports_differ(self) -> LocalBroker:
        count = self.node_count
        clients = {self.port + 2 * i for i in range(count)}
        controllers = {self.controller_port + 2 * i for i in range(count)}
        if clients & controllers:
            raise ValueError(
                f"port and controller_port must differ for each of the {count} nodes "
                "(node n uses port + 2(n-1) and controller_port + 2(n-1))"
            )
        if max(clients | controllers) > 65535:
            raise ValueError(f"{count} nodes do not fit below port 65535")
        return self

    @property
    def node_count(self) -> int:
        return self.nodes or 1

    def client_port(self, node: int) -> int:
        return self.port + 2 * (node - 1)

    def controller_port_of(self, node: int) -> int:
        return self.controller_port + 2 * (node - 1)

    @property
    def bootstrap(self) -> str:
        """Every node's client address: a client finds the cluster while any node is up."""
        nodes = range(1, self.node_count + 1)
        return ",".join(f"{self.host}:{self.client_port(n)}" for n in nodes)


class KafkaSecurity(_Model):
    """How clients authenticate and what they trust (casebus/security/).

    The local broker is secured like production: SASL_SSL with SCRAM, its own CA. For an
    existing cluster, set the protocol, mechanism, CA file and the principals' secrets.
    PLAINTEXT exists for one thing: the benchmarks' comparison run against an open broker.
    """

    protocol: Literal["SASL_SSL", "SASL_PLAINTEXT", "PLAINTEXT"] = "SASL_SSL"
    mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    ca_file: str = ""  # empty: the local broker's CA, <secrets_dir>/tls/ca.pem
    secrets_dir: str = ""  # empty: <var_dir>/secrets
    admin: str = "casebus-admin"  # the super user: topics, credentials, ACLs

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")


class KafkaSettings(_Model):
    bootstrap: str = ""  # empty: the local broker
    # 0: as many replicas as the cluster has nodes, up to 3, and min.insync.replicas 2 when
    # there are 3 (casebus/kafka/topics.py); production: 3 and 2.
    replication_factor: int = Field(0, ge=0)
    min_insync_replicas: int = Field(0, ge=0)
    local: LocalBroker = LocalBroker()
    security: KafkaSecurity = KafkaSecurity()

    @property
    def uses_local_broker(self) -> bool:
        return not self.bootstrap

    @property
    def bootstrap_servers(self) -> str:
        return self.bootstrap or self.local.bootstrap


class RegistryAccess(_Model):
    """Who may do what at the registry (HTTP Basic, the Kafka principals and secrets).

    Patterns are principal names, `*` matching any run of characters. Everyone authenticated
    reads, except platforms: they read only the subjects of their own feed.
    """

    # Who may register schema versions: producers register their contracts on first use.
    registrants: tuple[str, ...] = ("casebus-admin", "connector.*", "ingest", "feeds")
    # Compatibility config and deletes.
    admin: tuple[str, ...] = ("casebus-admin",)
    # Off only for the benchmarks' comparison run against an open broker.
    authenticate: bool = True


class RegistrySettings(_Model):
    url: str = "http://127.0.0.1:8081"
    host: str = "127.0.0.1"
    port: int = Field(8081, ge=1, le=65535)
    topic: str = "_schemas"
    # Set in a two-region deployment for the region whose registry is not the primary: the
    # primary's alias. The registry then serves the primary's schemas read-only.
    follows: str = ""
    compatibility: CompatibilityLevel = "BACKWARD_TRANSITIVE"
    access: RegistryAccess = RegistryAccess()


class ValidationSettings(_Model):
    clock_skew_seconds: int = Field(300, ge=0)
    max_message_bytes: int = Field(1_048_576, gt=0)


class TopicSpec(_Model):
    name: str
    partitions: int = Field(6, ge=1)
    # Shared topics are the system of record that replay rebuilds from: keep everything.
    config: dict[str, str] = Field(default_factory=lambda: {"retention.ms": "-1"})


class RegionCluster(_Model):
    """A region's own Kafka cluster and schema registry, for a deployment of one cluster per
    region joined by MirrorMaker 2 (docs/regions.md). Used when a command runs in the region
    (`casebus --region luzhou ...`, CASEBUS_REGION); without a region every command uses
    [kafka] and [registry], one cluster for all."""

    # The link's name for the cluster: MirrorMaker 2's cluster alias, and the prefix of this
    # region's copies on the other cluster (`luzhou.casebus.penalty`).
    alias: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    kafka: KafkaSettings = KafkaSettings()
    registry_url: str
    registry_port: int = Field(8081, ge=1, le=65535)
    # One region's registry assigns schema ids; the other serves the primary's `_schemas`,
    # mirrored, read-only: so a schema id means the same schema on both clusters.
    primary_registry: bool = False
    # Added to the metrics ports of the registry, ingest, the feeds, the connectors and the
    # link in this region ([metrics]): two regions on one machine serve them on different
    # ports. (Each agency's sync has a port of its own already.)
    metrics_offset: int = Field(0, ge=0, le=10_000)
    # The region's key service (`casebus --region R keys serve`, services/keys/): the wrapped
    # data keys of the owners of this region and its erasure log, over HTTPS. Empty: none;
    # when no region has one, every process uses the local key store ([personal] key_store).
    key_service_url: str = ""
    key_service_port: int = Field(0, ge=0, le=65535)


class Region(_Model):
    code: str = Field(pattern=r"^\d{6}$")
    name: str
    province: str = ""
    cluster: RegionCluster | None = None


class Agency(_Model):
    code: str = Field(pattern=r"^\d{6}-[A-Z]+$")
    name: str
    kind: AgencyKind
    region: str
    uscc: str
    db_url: str = ""  # empty: SQLite file under var_dir


class Platform(_Model):
    code: str = Field(pattern=r"^PLATFORM-[A-Z]+$")
    name: str
    # Host names (and their subdomains) of the platform's shops and listings: a lead whose
    # shop or listing URL is on one of them concerns the platform (services/feeds/).
    domains: tuple[str, ...] = ()

    @property
    def feed_name(self) -> str:
        """`jd` for PLATFORM-JD: the platform's part of its feed topic's name."""
        return self.code.removeprefix("PLATFORM-").lower()


# -- connectors, sandbox and ingest (config/connectors.toml) --------------------------------


class ConnectorConfig(_Model):
    """One scheduled pull from one source system, publishing as `owner`."""

    name: str
    module: str  # a module under connectors/, e.g. "market_supervision", "jd"
    owner: str
    base_url: str
    interval_seconds: float | None = Field(300, gt=0)
    cron: str | None = None  # crontab expression; wins over interval_seconds
    credentials_env: str = ""  # environment variable holding the secret, never the secret
    options: dict[str, str] = Field(default_factory=dict)
    # Shared topic name -> the name actually written (tests isolate topics, e.g.
    # {"casebus.lead": "t.lead.1a2b", "casebus.rejects": "t.rejects.1a2b"}).
    topics: dict[str, str] = Field(default_factory=dict)
    page_size: int = Field(50, ge=1, le=1000)
    # Pages of at least this many records are mapped, validated and serialized in a
    # worker process while the previous page is sent (0: never); smaller pages stay
    # in-process, where a worker's start-up would cost more than it saves.
    worker_min_page: int = Field(200, ge=0)


class Section(_Model):
    """Settings one service owns: its model (services/<name>/settings.py) of one table of
    the config (`[sandbox]`), overridable as CASEBUS_<TABLE>__<KEY>. The core keeps the
    table as it was given (or, for a table that also holds shared keys, `[sync]` and
    `[feeds]`, the keys its shared model does not know); the service validates it when it
    first asks (`Model.of`), and the command line validates every such table right after
    loading, so a misspelt key still fails at start."""

    table: ClassVar[str]

    @classmethod
    def of(cls, settings: Settings) -> Self:
        return settings.section(cls)


# Tables validated (wholly, or but for their shared keys) by a service's own model.
SERVICE_TABLES = ("sandbox", "ingest", "sync", "feeds", "console")
_SECTIONS: dict[tuple[int, type[Section]], tuple[object, Section]] = {}


# -- sync (config/sync.toml) -----------------------------------------------------------------


class Subscription(_Model):
    """What one agency's database receives (casebus/filtering.py applies it).

    A record is admitted when its topic is listed, its handling code is listed, and it is
    the agency's own, or of one of `regions`, or shared with one of `regions` or with the
    agency itself. H2 (named agencies) needs the agency named in shared_with (or owning it).
    """

    agency: str
    topics: tuple[str, ...] = ("casebus.penalty", "casebus.lead", "casebus.action")
    regions: tuple[str, ...] = ()  # records of these regions, or shared with them
    handling: tuple[str, ...] = ("H0", "H1", "H2")  # H3 (police only) for police agencies

    @field_validator("handling")
    @classmethod
    def _known_handling(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - {"H0", "H1", "H2", "H3"})
        if unknown:
            raise ValueError(f"unknown handling codes {unknown}; known: H0, H1, H2, H3")
        return value


class SyncSettings(_Model):
    """The `[sync]` keys every part shares: who subscribes to what, and the group, DLQ and
    topic names the ACL plan (casebus/security/acls.py) grants. The sync's own knobs (batch
    size, timeouts, the decode worker) sit in the same table, are kept as given here and
    validated by the service's model (pipeline/settings.py, a `Section`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    subscriptions: tuple[Subscription, ...] = ()
    # Overrides for tests and one-off runs, e.g. CASEBUS_SYNC__TOPICS='["casebus.lead=t.lead.1"]'
    # (shared topic=topic read); empty means the default named beside each.
    topics: tuple[str, ...] = ()  # the subscription's topics, under their own names
    db_url: str = ""  # Settings.database_url(agency)
    group_id: str = ""  # casebus.sync.<agency>
    dlq_topic: str = ""  # casebus.dlq.sync.<agency>
    # Set by the region a process runs in (load_settings): the prefixes of the other
    # regions' copies (`luzhou.`), read beside the region's own topics.
    copy_prefixes: tuple[str, ...] = ()

    def topic_names(self) -> TopicNames | None:
        """The topics read instead of the subscription's, when `topics` names them."""
        return TopicNames.parse(self.topics) if self.topics else None

    def group_for(self, agency: str) -> str:
        return self.group_id or names.sync_group(agency)

    def dlq_for(self, agency: str) -> str:
        return self.dlq_topic or names.sync_dlq(agency)

    def names_for(self, agency: str, topics: TopicNames | None = None) -> TopicNames:
        """The topics the agency's sync reads: exactly `topics`, else `topics` of this table
        ("shared=actual" pairs), else the subscription's, under their own names; and, in a
        two-region deployment, their copies from the other regions."""
        chosen = topics or self.topic_names() or TopicNames.same(self.subscription(agency).topics)
        return chosen.with_copies(self.copy_prefixes)

    def subscription(self, agency: str) -> Subscription:
        for sub in self.subscriptions:
            if sub.agency == agency:
                return sub
        raise ConfigError(f"no sync subscription for agency {agency!r} (config/sync.toml)")


class FeedSettings(_Model):
    """The partner lead feeds (services/feeds/): casebus.lead -> casebus.feed.<p>.leads.

    The names here are shared (the ACL plan grants them); the service's own knobs in the
    same `[feeds]` table are validated by services/feeds/settings.py."""

    model_config = ConfigDict(extra="allow", frozen=True)

    source_topic: str = "casebus.lead"
    # Feed topic of platform p: f"{topic_prefix}{p.feed_name}.leads".
    topic_prefix: str = "casebus.feed."
    # Compacted changelog of what each platform holds, restored at start (services/feeds/state.py).
    state_topic: str = "casebus.feeds.state"
    dlq_topic: str = names.FEEDS_DLQ
    group_id: str = names.FEEDS_GROUP
    transactional_id: str = names.FEEDS_TRANSACTIONAL_ID
    # Off only for bench/feeds.py's comparison run: the same pipeline without transactions.
    # Shared: transactional ids are granted only where transactions are used.
    transactions: bool = True

    def feed_topic(self, platform: Platform) -> str:
        return f"{self.topic_prefix}{platform.feed_name}.leads"


# -- metrics and health (casebus/observability/) ----------------------------------------------


class MetricsSettings(_Model):
    """Where each long-running service serves `/metrics`, `/healthz` and `/readyz`
    (`--metrics-port` on its command overrides; 0: not served). `config/prometheus/`
    scrapes the ports config/casebus.toml gives."""

    enabled: bool = True  # False: no service serves them unless --metrics-port says so
    host: str = "127.0.0.1"
    registry_port: int = Field(0, ge=0, le=65535)
    ingest_port: int = Field(0, ge=0, le=65535)
    feeds_port: int = Field(0, ge=0, le=65535)
    connectors_port: int = Field(0, ge=0, le=65535)
    mirror_port: int = Field(0, ge=0, le=65535)  # the link (casebus --region R mirror run)
    keys_port: int = Field(0, ge=0, le=65535)  # the key service (casebus --region R keys serve)
    sync_ports: dict[str, int] = Field(default_factory=dict)  # agency -> port
    # Live: the service's loop turned within this many seconds.
    live_after_seconds: float = Field(60.0, gt=0)
    # How often the network checks of /readyz (Kafka, registry, database) run.
    check_interval_seconds: float = Field(5.0, gt=0)

    def port_for(self, service: str, given: int | None = None) -> int:
        """`given` (a --metrics-port), else the configured port of `service` ("sync
        <agency>" for a sync), else 0."""
        if given is not None:
            return given
        if not self.enabled:
            return 0
        if service.startswith("sync "):
            return self.sync_ports.get(service.removeprefix("sync "), 0)
        return int(getattr(self, f"{service}_port", 0))


# -- provenance (casebus/provenance/) ----------------------------------------------------------


class TrustedKey(_Model):
    """A public key the consumers accept signatures of, for one owner and a validity period."""

    key_id: str = Field(pattern=r"^[0-9a-f]{32}$")  # casebus.provenance.keys.key_id_of
    owner: str = Field(min_length=1)  # the event owner (or service) it speaks for
    public_key: str = Field(min_length=1)  # base64 of the raw 32-byte Ed25519 public key
    not_before: AwareDatetime
    not_after: AwareDatetime
    revoked: bool = False  # every signature of a revoked key is refused, whatever its date
    revoked_reason: str = ""

    @model_validator(mode="after")
    def _period(self) -> TrustedKey:
        if self.not_after <= self.not_before:
            raise ValueError(f"key {self.key_id}: not_after must be after not_before")
        return self


class ProvenanceSettings(_Model):
    """Signed events and the tamper-evident event log (casebus/provenance/)."""

    # Private keys <keys_dir>/<owner>.pem (0600), unless CASEBUS_SIGNING_KEY_<OWNER> holds one.
    keys_dir: str = ""  # empty: <var_dir>/keys
    # The trust list: these entries plus those in trust_file (`casebus keys generate` adds to
    # it). Empty: <keys_dir>/trust.toml; a deployment points it at its managed copy.
    trust_file: str = ""
    trusted: tuple[TrustedKey, ...] = ()
    key_valid_days: int = Field(730, ge=1)
    # The feeds service signs the feeds it writes as this owner.
    feeds_owner: str = "casebus-feeds"
    audit_topic: str = "casebus.audit"
    audit_interval_seconds: float = Field(30, gt=0)  # how often sync publishes its chain head


class PersonalGrant(_Model):
    """Agencies other than the owner that may open the owner's personal fields."""

    owner: str = Field(min_length=1)
    readers: tuple[str, ...] = Field(min_length=1)
    # "shared": only in records the owner shared with the reader (its code or its region in
    # `shared_with`): the police for what is transferred to them, the other region for a
    # shared case. "always": in every record of the owner the reader receives.
    when: Literal["shared", "always"] = "shared"


class PersonalSettings(_Model):
    """Personal fields (casebus/personal/, docs/personal-data.md): who may read them besides
    their owner (nobody unless granted here), and where the keys are kept."""

    # Wrapped data keys and the erasure log, outside the bus. Empty: <var_dir>/personal/keys.sqlite
    key_store: str = ""
    # Key-encryption keys <kek_dir>/<owner>.key (0600), unless CASEBUS_KEK_<OWNER> holds one
    # (base64 of 32 bytes). Empty: <secrets_dir>/kek
    kek_dir: str = ""
    grants: tuple[PersonalGrant, ...] = ()


class Settings(BaseSettings):
    """The whole deployment description."""

    model_config = SettingsConfigDict(
        env_prefix="CASEBUS_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    var_dir: Path = Path("var")
    # The region this process runs in (its alias or code; CASEBUS_REGION, `--region`): its
    # cluster and registry replace [kafka] and [registry]. Empty: one cluster for all.
    region: str = ""
    # Every service's log lines: "text" for people, "json" for a log shipper (casebus/logs.py);
    # `casebus --log-format` overrides it.
    log_format: Literal["text", "json"] = "text"
    kafka: KafkaSettings = KafkaSettings()
    registry: RegistrySettings = RegistrySettings()
    validation: ValidationSettings = ValidationSettings()
    topics: tuple[TopicSpec, ...] = ()
    regions: tuple[Region, ...] = ()
    agencies: tuple[Agency, ...] = ()
    platforms: tuple[Platform, ...] = ()
    connectors: tuple[ConnectorConfig, ...] = ()
    sandbox: dict[str, Any] = Field(default_factory=dict)  # services/sandbox/settings.py
    ingest: dict[str, Any] = Field(default_factory=dict)  # services/ingest/settings.py
    console: dict[str, Any] = Field(default_factory=dict)  # services/console/settings.py
    sync: SyncSettings = SyncSettings()
    feeds: FeedSettings = FeedSettings()
    provenance: ProvenanceSettings = ProvenanceSettings()
    personal: PersonalSettings = PersonalSettings()
    metrics: MetricsSettings = MetricsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_files())
        return (init_settings, env_settings, toml)

    @field_validator("var_dir")
    @classmethod
    def _absolute_var_dir(cls, value: Path) -> Path:
        return value if value.is_absolute() else PROJECT_ROOT / value

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        regions = {r.code for r in self.regions}
        for agency in self.agencies:
            if agency.region not in regions:
                raise ValueError(f"agencies.{agency.code}.region: unknown region {agency.region!r}")
        codes = [a.code for a in self.agencies] + [p.code for p in self.platforms]
        dupes = {c for c in codes if codes.count(c) > 1}
        if dupes:
            raise ValueError(f"agencies/platforms: duplicate codes {sorted(dupes)}")
        agencies = {a.code for a in self.agencies}
        for grant in self.personal.grants:
            # Only agencies ever read personal fields: never a platform, the feeds or the link.
            strangers = sorted(set(grant.readers) - agencies)
            if strangers:
                raise ValueError(f"personal.grants ({grant.owner}): {strangers} are not agencies")
        self._check_clusters()
        return self

    def _check_clusters(self) -> None:
        clustered = [r for r in self.regions if r.cluster is not None]
        if not clustered:
            if self.region:
                raise ValueError(f"region: {self.region!r}, but no region has a cluster")
            return
        if len(clustered) != len(self.regions):
            bare = [r.code for r in self.regions if r.cluster is None]
            raise ValueError(f"regions: {bare} have no cluster (every region needs one, or none)")
        aliases = [r.cluster.alias for r in clustered if r.cluster is not None]
        if len(set(aliases)) != len(aliases):
            raise ValueError(f"regions.cluster.alias: duplicate aliases {aliases}")
        primaries = [r.code for r in clustered if r.cluster and r.cluster.primary_registry]
        if len(primaries) != 1:
            raise ValueError(
                "regions.cluster.primary_registry: exactly one region's registry must be the "
                f"primary (the one assigning schema ids), found {primaries or 'none'}"
            )
        if self.region:
            self.region_named(self.region)

    def region_named(self, name: str) -> Region:
        """A region with a cluster, by alias (luzhou) or code (510500)."""
        for region in self.regions:
            if region.cluster is not None and name in (region.code, region.cluster.alias):
                return region
        known = ", ".join(f"{r.cluster.alias} ({r.code})" for r in self.regions if r.cluster)
        raise ValueError(f"region: unknown region {name!r}; with a cluster: {known or 'none'}")

    @property
    def home(self) -> Region | None:
        """The region this process runs in (None: one cluster for all)."""
        return self.region_named(self.region) if self.region else None

    def cluster_of(self, region: Region) -> RegionCluster:
        if region.cluster is None:
            raise ConfigError(f"region {region.code} has no cluster")
        return region.cluster

    @property
    def other_regions(self) -> list[Region]:
        """The regions whose copies this region's cluster holds (two-region deployments)."""
        home = self.home
        return [r for r in self.regions if home is not None and r.code != home.code]

    @property
    def key_services(self) -> dict[str, str]:
        """Region code -> its key service's URL, for the regions that run one (none: the local
        key store)."""
        return {
            r.code: r.cluster.key_service_url.rstrip("/")
            for r in self.regions
            if r.cluster is not None and r.cluster.key_service_url
        }

    def key_region_of(self, owner: str) -> str:
        """The region whose key service holds `owner`'s keys: an agency's own region; a
        platform's (or any other owner's) the primary registry's region, where its connectors
        run."""
        agency = self.agency_by_code.get(owner)
        if agency is not None:
            return agency.region
        for region in self.regions:
            if region.cluster is not None and region.cluster.primary_registry:
                return region.code
        return ""

    @property
    def kafka_state_dir(self) -> Path:
        """The local cluster's state folder: one per region in a two-region deployment."""
        home = self.home
        if home is None:
            return self.var_dir / "kafka"
        return self.var_dir / "regions" / self.cluster_of(home).alias / "kafka"

    @cached_property
    def agency_by_code(self) -> dict[str, Agency]:
        return {a.code: a for a in self.agencies}

    def agency(self, code: str) -> Agency:
        try:
            return self.agency_by_code[code]
        except KeyError:
            known = ", ".join(sorted(self.agency_by_code))
            raise ConfigError(f"unknown agency {code!r}; configured: {known}") from None

    def platform(self, code_or_feed: str) -> Platform:
        """A platform by code (PLATFORM-JD) or feed name (jd)."""
        for platform in self.platforms:
            if code_or_feed in (platform.code, platform.feed_name):
                return platform
        known = ", ".join(p.code for p in self.platforms)
        raise ConfigError(f"unknown platform {code_or_feed!r}; configured: {known}")

    def topic(self, name: str) -> TopicSpec:
        for spec in self.topics:
            if spec.name == name:
                return spec
        raise ConfigError(f"topic {name!r} is not configured")

    @property
    def secrets_dir(self) -> Path:
        folder = self.kafka.security.secrets_dir
        return PROJECT_ROOT / folder if folder else self.var_dir / "secrets"

    @property
    def ca_file(self) -> Path:
        given = self.kafka.security.ca_file
        return PROJECT_ROOT / given if given else self.secrets_dir / "tls" / "ca.pem"

    @property
    def keys_dir(self) -> Path:
        folder = self.provenance.keys_dir
        return PROJECT_ROOT / folder if folder else self.var_dir / "keys"

    @property
    def personal_key_store(self) -> Path:
        given = self.personal.key_store
        return PROJECT_ROOT / given if given else self.var_dir / "personal" / "keys.sqlite"

    @property
    def kek_dir(self) -> Path:
        given = self.personal.kek_dir
        return PROJECT_ROOT / given if given else self.secrets_dir / "kek"

    @property
    def trust_file(self) -> Path:
        given = self.provenance.trust_file
        return PROJECT_ROOT / given if given else self.keys_dir / "trust.toml"

    def section(self, model: type[S]) -> S:
        """The service's settings, validated once per table given (ConfigError naming the
        key and the rule otherwise)."""
        raw = getattr(self, model.table)
        if isinstance(raw, BaseModel):  # a shared table: the service owns the other keys
            raw = raw.model_extra
        known = _SECTIONS.get((id(raw), model))
        if known is not None and known[0] is raw:
            return known[1]  # type: ignore[return-value]
        try:
            value = model.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError("invalid configuration:\n" + _describe(exc, model.table)) from None
        _SECTIONS[(id(raw), model)] = (raw, value)  # holds `raw`: its id is not reused
        return value

    def sync_database_url(self, agency_code: str) -> str:
        """The database the agency's sync writes: `[sync] db_url` (tests, one-off runs) or
        the agency's own."""
        return self.sync.db_url or self.database_url(agency_code)

    def database_url(self, agency_code: str) -> str:
        agency = self.agency(agency_code)
        if agency.db_url:
            return agency.db_url
        return f"sqlite:///{self.var_dir / 'db' / (agency.code + '.sqlite')}"


def _config_path() -> Path:
    return Path(os.environ.get("CASEBUS_CONFIG", DEFAULT_CONFIG))


def _config_files() -> list[Path]:
    """The main file, then its siblings per area (connectors.toml, sync.toml), merged."""
    main = _config_path()
    return [main, *(p for p in (main.parent / f for f in AREA_FILES) if p.is_file())]


AREA_FILES = ("connectors.toml", "sync.toml")


def load_settings(**overrides: object) -> Settings:
    """Load and validate the settings; raise ConfigError naming each bad key."""
    path = _config_path()
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    # The issue-level shorthand for the most common override.
    short = os.environ.get("CASEBUS_KAFKA_BOOTSTRAP")
    if short and "kafka" not in overrides:
        overrides.setdefault("kafka", {"bootstrap": short})
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration in {path}:\n" + _describe(exc)) from None
    return _with_local_nodes(_in_region(settings))


def in_region(settings: Settings, name: str) -> Settings:
    """The settings of a process running in region `name` (alias or code), from any."""
    return _with_local_nodes(_in_region(settings.model_copy(update={"region": name})))


def _in_region(settings: Settings) -> Settings:
    """In a two-region deployment, the settings of a process running in one region: its
    cluster and registry instead of [kafka] and [registry], and the syncs reading the other
    regions' copies beside the region's own topics."""
    home = settings.home
    if home is None:
        return settings
    cluster = settings.cluster_of(home)
    primary = next(r.cluster for r in settings.regions if r.cluster and r.cluster.primary_registry)
    assert primary is not None
    registry_now = settings.registry
    own_topic = (
        registry_now.topic.removeprefix(f"{registry_now.follows}.")
        if registry_now.follows
        else registry_now.topic
    )
    registry = settings.registry.model_copy(
        update={
            "url": cluster.registry_url,
            "port": cluster.registry_port,
            # A follower serves the primary's schemas, as MirrorMaker 2 copies them.
            "topic": own_topic if cluster.primary_registry else f"{primary.alias}.{own_topic}",
            "follows": "" if cluster.primary_registry else primary.alias,
        }
    )
    prefixes = tuple(f"{settings.cluster_of(r).alias}." for r in settings.other_regions)
    # The region's own agencies publish and sync here; the platforms' connectors run in the
    # primary's region (platforms belong to no region; their leads cross like any event).
    agencies = {a.code for a in settings.agencies if a.region == home.code}
    subscriptions = tuple(s for s in settings.sync.subscriptions if s.agency in agencies)
    sync = settings.sync.model_copy(
        update={"copy_prefixes": prefixes, "subscriptions": subscriptions}
    )
    connectors = tuple(
        c
        for c in settings.connectors
        if c.owner in agencies
        or (cluster.primary_registry and c.owner not in settings.agency_by_code)
    )
    shift = cluster.metrics_offset
    metrics = settings.metrics.model_copy(
        update={
            f"{service}_port": port + shift
            for service in ("registry", "ingest", "feeds", "connectors", "mirror", "keys")
            if (port := getattr(settings.metrics, f"{service}_port"))
        }
    )
    return settings.model_copy(
        update={
            "kafka": cluster.kafka,
            "registry": registry,
            "sync": sync,
            "connectors": connectors,
            "metrics": metrics,
        }
    )


LOCAL_CLUSTER_FILE = "cluster.json"  # in the local broker's state folder: its layout


def _with_local_nodes(settings: Settings) -> Settings:
    """The local cluster's node count, when config leaves it open: what the state folder's
    cluster was started with (`casebus kafka start --nodes 3`), so every command finds
    every node."""
    local = settings.kafka.local
    if not settings.kafka.uses_local_broker or local.nodes is not None:
        return settings
    try:
        recorded = json.loads((settings.kafka_state_dir / LOCAL_CLUSTER_FILE).read_text())
        nodes = int(recorded["nodes"])
    except (OSError, ValueError, KeyError, TypeError):
        return settings
    kafka = settings.kafka.model_copy(update={"local": local.model_copy(update={"nodes": nodes})})
    return settings.model_copy(update={"kafka": kafka})


def _describe(exc: ValidationError, table: str = "") -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in (table, *err["loc"]) if p != "") or "(root)"
        lines.append(f"  {key}: {err['msg']}")
    return "\n".join(lines)
