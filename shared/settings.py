"""Settings: the single entry point for configuration.

Read once at start-up into a typed, frozen object (`get_settings()`), then passed down.
No other module reads `os.environ`.

Sources, highest priority first:
1. keyword arguments to `Settings(...)` (tests),
2. environment variables (Azure app settings, or what `make run` passes its children),
3. when KEY_VAULT_URL is set (in the environment): the secret settings (every `SecretStr`) from
   that Key Vault, each from the secret named after its environment name in kebab case
   (`JWT_SECRET` -> `jwt-secret`; `KeyVaultSecretsSource`),
4. the "Values" of `local.settings.json` at the repository root, when it exists
   (the Azure Functions convention for local runs; it is not deployed),
5. the field defaults below, which are the local development values.

Environment names are the upper-case field names (case-insensitive), except
`storage_connection`, which is Azure's `AzureWebJobsStorage` (a connection string: Azurite),
the identity-based `AzureWebJobsStorage__accountName` / `__blobServiceUri` / `__queueServiceUri`
(storage under the managed identity) and the Service Bus ones. Lists accept a
comma-separated string (`a,b,c`) or a JSON array; maps accept a JSON object.

The development values of the secrets (the defaults below and those of local.settings.json)
are public. A process started without `PBX_ENVIRONMENT=local` is a production process: its
entry point calls `Settings.require_secrets(...)` (or `require_production_secrets` for the
ConfigDB node) and exits with a sentence naming each secret that is unset or holds a
development value.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol, get_args

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

REPO = Path(__file__).resolve().parents[1]
LOCAL_SETTINGS_FILE = REPO / "local.settings.json"

DEV_ACCOUNT = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

# PBX_ENVIRONMENT: only this value lets a process start on the development secrets below.
LOCAL_ENVIRONMENT = "local"
DEV_JWT_SECRET = "dev-jwt-secret-not-for-production-0123456789"
DEV_EDGE_CONTROL_TOKEN = "dev-edge-control-token"
# ConfigDB credentials: the admin token (CONFIGDB_TOKEN), the functions' and the edge's scoped
# client tokens, and the Raft peers' token.
DEV_CONFIGDB_TOKEN = "dev-configdb-token"
DEV_CONFIGDB_APP_TOKEN = "dev-configdb-app-token"
DEV_CONFIGDB_EDGE_TOKEN = "dev-configdb-edge-token"
DEV_CONFIGDB_PEER_TOKEN = "dev-configdb-peer-token"
DEV_SECRETS = frozenset(
    {
        DEV_JWT_SECRET,
        DEV_EDGE_CONTROL_TOKEN,
        DEV_CONFIGDB_TOKEN,
        DEV_CONFIGDB_APP_TOKEN,
        DEV_CONFIGDB_EDGE_TOKEN,
        DEV_CONFIGDB_PEER_TOKEN,
    }
)
# The key prefixes each scoped ConfigDB token covers: the functions read and write the
# application's keys (shared/configdb_keys.py, the auth records, job state, cleanup progress);
# the edge reads the tenants and the global indexes.
CONFIGDB_APP_PREFIXES = ("t/", "idx/", "auth/", "jobs/", "cleanup/")
CONFIGDB_EDGE_PREFIXES = ("t/", "idx/")
# The Functions host's identity-based storage connection (its other keys: __blobServiceUri,
# __queueServiceUri): what a production process reaches storage with.
STORAGE_IDENTITY_SETTING = "AzureWebJobsStorage__accountName"
# An app setting's Key Vault reference, as the Functions platform writes it before resolving it.
KEY_VAULT_REFERENCE_PREFIX = "@Microsoft.KeyVault("


class ProductionSecretMissing(SystemExit):
    """A production process was about to start on a development secret: exit status 1, and
    one sentence per secret on stderr."""


def _is_development_value(value: str) -> bool:
    return (
        value in DEV_SECRETS
        or f"AccountKey={DEV_ACCOUNT_KEY}" in value
        or "UseDevelopmentStorage=true" in value
    )


def require_production_secrets(
    environment: str | None, secrets: Mapping[str, str | None], refusals: Sequence[str] = ()
) -> None:
    """Refuse (`ProductionSecretMissing`) unless `environment` is local or every secret is set
    to a value of its own. `secrets` maps each setting's environment name to its value, None
    when the process would fall back on the development default; `refusals` are further
    sentences, each a reason of its own not to start in production."""
    if environment == LOCAL_ENVIRONMENT:
        return
    problems = list(refusals)
    for name, value in secrets.items():
        if value is None:
            problems.append(
                f"{name} is not set: a production process does not start on the development default."
            )
        elif _is_development_value(value):
            problems.append(f"{name} holds a development value: a production process does not start on it.")
        elif value.lstrip().startswith(KEY_VAULT_REFERENCE_PREFIX):
            # The Functions platform leaves an app setting's reference text in place when it cannot
            # resolve it (no access, no such secret): that text is public, never a secret.
            problems.append(
                f"{name} holds an unresolved Key Vault reference: the platform could not read the secret"
                " (check that the app's identity has Key Vault Secrets User and that the secret exists)."
            )
            continue
        else:
            continue
        problems[-1] += f" Set {name}, or PBX_ENVIRONMENT={LOCAL_ENVIRONMENT} for a local run."
    if problems:
        raise ProductionSecretMissing("\n".join(problems))


def azurite_connection_string(
    host: str = "127.0.0.1", blob_port: int = 10000, queue_port: int = 10001, table_port: int = 10002
) -> str:
    """The connection string of a local Azurite with the well-known development account."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};"
        f"BlobEndpoint=http://{host}:{blob_port}/{DEV_ACCOUNT};"
        f"QueueEndpoint=http://{host}:{queue_port}/{DEV_ACCOUNT};"
        f"TableEndpoint=http://{host}:{table_port}/{DEV_ACCOUNT};"
    )


class SecretReader(Protocol):
    """Reads a secret by name from a vault: its value, or None when the vault has no such secret.
    Raises `KeyVaultUnavailable` when the vault cannot be read."""

    def get(self, name: str) -> str | None: ...

    def close(self) -> None: ...


class KeyVaultUnavailable(SystemExit):
    """KEY_VAULT_URL is set but the vault cannot be read: exit status 1 with one sentence."""


def key_vault_secret_name(field_name: str) -> str:
    """The Key Vault secret a secret setting is read from: its environment name in kebab case
    (`JWT_SECRET` -> `jwt-secret`, `ServiceBusConnection` -> `service-bus-connection`)."""
    return field_name.replace("_", "-")


def _holds_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_holds_secret(arg) for arg in get_args(annotation))


def secret_fields(settings_cls: type[BaseSettings]) -> list[str]:
    """The fields of `settings_cls` that hold a secret (`SecretStr`, optional or in a list)."""
    return [name for name, field in settings_cls.model_fields.items() if _holds_secret(field.annotation)]


def _open_key_vault(url: str) -> SecretReader:
    from shared.adapters.key_vault import KeyVaultSecrets  # azure-keyvault-secrets, only when used

    return KeyVaultSecrets(url)


class KeyVaultSecretsSource(EnvSettingsSource):
    """The secret settings from Key Vault when KEY_VAULT_URL is set (in the environment), each
    from the secret named `key_vault_secret_name(field)`, parsed exactly like environment
    variables. It ranks below the environment, so an app setting still wins. A secret the vault
    lacks stays unset; a vault that cannot be read stops the start (`KeyVaultUnavailable`)."""

    def __init__(
        self, settings_cls: type[BaseSettings], open_reader: Callable[[str], SecretReader] | None = None
    ) -> None:
        self.open_reader = open_reader or _open_key_vault
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        url = super()._load_env_vars().get("KEY_VAULT_URL" if self.case_sensitive else "key_vault_url")
        if not url:
            return {}
        reader = self.open_reader(url)
        values: dict[str, str | None] = {}
        try:
            for name in secret_fields(self.settings_cls):
                value = reader.get(key_vault_secret_name(name))
                if value:
                    _, env_name, _ = self._extract_field_info(self.settings_cls.model_fields[name], name)[0]
                    values[env_name] = value
        finally:
            reader.close()
        return values

    def __repr__(self) -> str:
        return "KeyVaultSecretsSource()"


class LocalSettingsJsonSource(EnvSettingsSource):
    """The "Values" of local.settings.json, parsed exactly like environment variables."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        self.path = path
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            values = json.loads(self.path.read_text()).get("Values", {})
        except (OSError, ValueError, AttributeError) as exc:
            raise ValueError(f"{self.path}: cannot read its Values: {exc}") from exc
        return {(k if self.case_sensitive else k.lower()): str(v) for k, v in values.items()}

    def __repr__(self) -> str:
        return f"LocalSettingsJsonSource(path={self.path!r})"


def _split_list(value: Any) -> Any:
    """`a, b,c` -> ["a", "b", "c"]; a JSON array string is parsed; lists pass through."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]
SecretList = Annotated[list[SecretStr], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    # Where local.settings.json is read from; None turns that source off (tests do).
    local_settings_file: ClassVar[Path | None] = LOCAL_SETTINGS_FILE
    # Opens the vault named by KEY_VAULT_URL; None: azure-keyvault-secrets (tests inject their own).
    secret_reader: ClassVar[Callable[[str], SecretReader] | None] = None

    pbx_environment: str = Field(
        default="production",
        description="PBX_ENVIRONMENT: `local` allows the development secrets; anything else is production.",
    )

    # --- Configuration DB
    configdb_endpoints: CommaList = Field(
        default=["http://127.0.0.1:7101", "http://127.0.0.1:7102", "http://127.0.0.1:7103"],
        min_length=1,
        description="ConfigDB node base URLs (CONFIGDB_ENDPOINTS, comma-separated).",
    )
    configdb_token: SecretStr = Field(
        default=SecretStr(DEV_CONFIGDB_TOKEN),
        min_length=1,
        description="The shard's admin token (CONFIGDB_TOKEN): the admin CLI, tools and benchmarks.",
    )
    configdb_app_token: SecretStr = Field(
        default=SecretStr(DEV_CONFIGDB_APP_TOKEN),
        min_length=1,
        description="The functions' token (CONFIGDB_APP_TOKEN): read-write under CONFIGDB_APP_PREFIXES.",
    )
    configdb_edge_token: SecretStr = Field(
        default=SecretStr(DEV_CONFIGDB_EDGE_TOKEN),
        min_length=1,
        description="The SIP edge's token (CONFIGDB_EDGE_TOKEN): read-only under CONFIGDB_EDGE_PREFIXES.",
    )

    # --- Storage (blobs and queues): Azurite locally, a managed identity in Azure
    storage_connection: str = Field(
        default=azurite_connection_string(),
        validation_alias=AliasChoices("AzureWebJobsStorage", "storage_connection"),
        min_length=1,
        repr=False,  # holds an account key
        description="Connection string (AzureWebJobsStorage): Azurite only; refused in production.",
    )
    # The Functions host's identity-based form of AzureWebJobsStorage: when any is set, storage is
    # reached with DefaultAzureCredential (AZURE_CLIENT_ID picks a user-assigned identity).
    storage_account_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AzureWebJobsStorage__accountName", "storage_account_name"),
        pattern=r"^([a-z0-9]{3,24})?$",  # empty: unset
        description="Storage account reached with the managed identity (AzureWebJobsStorage__accountName).",
    )
    storage_blob_service_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AzureWebJobsStorage__blobServiceUri", "storage_blob_service_uri"),
        pattern=r"^(https://|$)",
        description="Blob endpoint under the identity (AzureWebJobsStorage__blobServiceUri;"
        " default https://<accountName>.blob.core.windows.net).",
    )
    storage_queue_service_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AzureWebJobsStorage__queueServiceUri", "storage_queue_service_uri"),
        pattern=r"^(https://|$)",
        description="Queue endpoint under the identity (AzureWebJobsStorage__queueServiceUri;"
        " default https://<accountName>.queue.core.windows.net).",
    )
    key_vault_url: str | None = Field(
        default=None,
        pattern=r"^(https://|$)",
        description="KEY_VAULT_URL: read the secret settings from this Key Vault (below the environment).",
    )

    # --- Message bus: Service Bus when either is set, else the Storage queues above
    # (shared/adapters/bus_transport.py). The names are the Functions host's connection setting.
    service_bus_connection: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ServiceBusConnection", "service_bus_connection"),
        description="Service Bus connection string (ServiceBusConnection).",
    )
    service_bus_namespace: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "ServiceBusConnection__fullyQualifiedNamespace", "service_bus_namespace"
        ),
        description="Service Bus namespace host name, under a managed identity "
        "(ServiceBusConnection__fullyQualifiedNamespace).",
    )

    # --- Telemetry (shared/telemetry.py): off unless one is set
    applicationinsights_connection_string: SecretStr | None = Field(
        default=None,
        description="APPLICATIONINSIGHTS_CONNECTION_STRING: traces and logs to Application Insights.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="OTEL_EXPORTER_OTLP_ENDPOINT: traces and logs to this OTLP/HTTP collector.",
    )

    # --- History DB: embedded SQLite under data_dir unless MONGODB_URI is set
    mongodb_uri: SecretStr | None = None
    data_dir: Path = Field(default=REPO / ".data", description="Local state (DATA_DIR).")

    # --- Auth
    jwt_secret: SecretStr = Field(
        default=SecretStr(DEV_JWT_SECRET),
        description="Signs new access tokens (JWT_SECRET, at least 32 characters).",
    )
    jwt_previous_secrets: SecretList = Field(
        default_factory=list,
        description="Still accepted when verifying, for rotation (JWT_PREVIOUS_SECRETS, comma-separated).",
    )
    access_token_ttl_seconds: int = Field(default=900, gt=0, le=24 * 3600)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    trusted_proxies: CommaList = Field(
        default=["127.0.0.1/32", "::1/128"],
        description="CIDRs of proxies whose X-Forwarded-For / Forwarded hops are believed "
        "(TRUSTED_PROXIES, comma list); the client is the right-most hop outside them.",
    )

    # --- Regions
    region: str = Field(default="local", min_length=1, description="This deployment's region (REGION).")
    region_base_urls: dict[str, str] = Field(
        default={"local": "http://127.0.0.1:7071/api"},
        description='API base URL per region (REGION_BASE_URLS, JSON: {"eu": "https://..."}).',
    )

    # --- Numbers: a released number waits this long before anyone can claim it again
    number_quarantine_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="Quarantine of a released number, days (NUMBER_QUARANTINE_DAYS).",
    )
    # --- Quotas per tenant (the operator can override them per tenant: ops tenants set-quota)
    quota_users: int = Field(default=100, ge=0, description="Users per tenant (QUOTA_USERS).")
    quota_numbers: int = Field(default=25, ge=0, description="Numbers per tenant (QUOTA_NUMBERS).")
    quota_menus: int = Field(default=50, ge=0, description="IVR menus per tenant (QUOTA_MENUS).")
    quota_prompts: int = Field(default=100, ge=0, description="Prompts per tenant (QUOTA_PROMPTS).")
    quota_media_bytes: int = Field(
        default=500 * 1024 * 1024,
        ge=0,
        description="Bytes of prompt uploads a tenant may keep (QUOTA_MEDIA_BYTES).",
    )
    # --- The operator CLI (python -m ops) records who ran each command
    ops_operator: str | None = Field(
        default=None,
        max_length=100,
        description="Operator name in audit records (OPS_OPERATOR; default: OS user).",
    )

    # --- Email
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    smtp_sender: str = Field(default="Cloud PBX <no-reply@cloudpbx.local>", min_length=3)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False

    # --- Links in emails point at the web portal
    public_base_url: str = Field(default="http://127.0.0.1:8080", description="PUBLIC_BASE_URL")

    # --- The web portal (web/): the browser origins CORS allows, and the refresh cookie
    web_origins: CommaList = Field(
        default_factory=list,
        description="CORS origins (WEB_ORIGINS, comma list or JSON; default: the PUBLIC_BASE_URL origin).",
    )
    refresh_cookie_secure: bool | None = Field(
        default=None,
        description=(
            "pbx_refresh cookie gets Secure (REFRESH_COOKIE_SECURE). Unset: Secure when PUBLIC_BASE_URL or"
            " this region's API URL is https; false is refused on an https site."
        ),
    )

    # --- SIP edge (sip_edge/): the trunk, the provider side and the call-control API
    sip_host: str = Field(default="127.0.0.1", description="SIP listen address, UDP and TCP (SIP_HOST).")
    sip_port: int = Field(default=5060, ge=1, le=65535, description="SIP listen port (SIP_PORT).")
    trunk_allowed_sources: CommaList = Field(
        default=["127.0.0.1"],
        description="Sources allowed to send INVITEs; others get 403 (TRUNK_ALLOWED_SOURCES).",
    )
    provider_address: str = Field(
        default="127.0.0.1:5070", min_length=3, description="host:port of the provider for outbound legs."
    )
    caller_id_policy: Literal["pass_through", "called_number"] = Field(
        default="pass_through",
        description="Caller ID on forwarded legs: the original caller, or the number called.",
    )
    edge_control_host: str = Field(
        default="127.0.0.1",
        description="Address the call-control HTTP API binds (EDGE_CONTROL_HOST), an IP address: loopback"
        " for a local run; in Azure the edge VM's private address, which the Function App reaches.",
    )
    edge_control_port: int = Field(default=7401, ge=1, le=65535, description="Call-control HTTP API port.")
    edge_control_url: str = Field(default="http://127.0.0.1:7401", description="Where functions reach it.")
    edge_control_token: SecretStr = Field(default=SecretStr(DEV_EDGE_CONTROL_TOKEN), min_length=1)
    edge_max_legs: int = Field(default=256, ge=2, le=256, description="Call legs per edge process.")
    edge_tenant_share: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="Share of an edge's legs one tenant may hold, in and out (EDGE_TENANT_SHARE).",
    )
    sip_invite_rate_per_source: float = Field(
        default=20.0,
        gt=0,
        description="INVITEs per second one source address may send, sustained (SIP_INVITE_RATE_PER_SOURCE);"
        " size it to the trunk's busiest signalling address.",
    )
    sip_invite_burst_per_source: float = Field(
        default=40.0, ge=1, description="INVITEs one source may send at once (SIP_INVITE_BURST_PER_SOURCE)."
    )
    edge_drain_seconds: float = Field(default=60.0, ge=0, description="Grace for live calls on SIGTERM.")
    edge_rtp_timeout_s: int = Field(
        default=30, ge=0, description="End a leg after this many seconds without RTP (a dead phone); 0 = off."
    )
    sip_rtp_ports: str | None = Field(
        default=None,
        pattern=r"^\d{1,5}-\d{1,5}$",
        description="UDP ports for RTP and RTCP, LOW-HIGH (SIP_RTP_PORTS; unset: the stack's 1024-49152).",
    )

    # --- Rates sync: the carrier rate deck (CSV: prefix, rate per minute, currency)
    rates_source: str = Field(
        default=str(REPO / "infra" / "local" / "rates" / "sample.csv"),
        min_length=1,
        description="A file path or http(s) URL of the carrier's rate deck (RATES_SOURCE).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            KeyVaultSecretsSource(settings_cls, cls.secret_reader),
            LocalSettingsJsonSource(settings_cls, cls.local_settings_file),
        )

    @field_validator(
        "configdb_endpoints",
        "jwt_previous_secrets",
        "trunk_allowed_sources",
        "web_origins",
        "trusted_proxies",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("configdb_endpoints", "region_base_urls")
    @classmethod
    def _http_urls(cls, value: Any) -> Any:
        urls = value.values() if isinstance(value, dict) else value
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        if isinstance(value, dict):
            return {k: v.rstrip("/") for k, v in value.items()}
        return [u.rstrip("/") for u in value]

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("web_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        out = []
        for origin in value:
            origin = origin.rstrip("/")
            scheme, sep, rest = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
            out.append(origin)
        return out

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        out = []
        for cidr in value:
            try:
                out.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not an IP network (CIDR such as 10.0.0.0/8)") from exc
        return out

    @field_validator("edge_control_host")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IP address (such as 10.40.3.10 or 0.0.0.0)") from exc

    @field_validator("sip_rtp_ports")
    @classmethod
    def _port_range(cls, value: str | None) -> str | None:
        if value is not None:
            low, high = (int(p) for p in value.split("-"))
            if not 1 <= low < high <= 65535:
                raise ValueError(f"{value!r} is not a port range LOW-HIGH (1 <= LOW < HIGH <= 65535)")
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _secret_length(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @model_validator(mode="after")
    def _region_known(self) -> Settings:
        if self.region not in self.region_base_urls:
            known = ", ".join(sorted(self.region_base_urls)) or "none"
            raise ValueError(f"region {self.region!r} has no entry in REGION_BASE_URLS (known: {known})")
        return self

    @model_validator(mode="after")
    def _storage_identity_complete(self) -> Settings:
        if not self.storage_account_name and (
            bool(self.storage_blob_service_uri) != bool(self.storage_queue_service_uri)
        ):
            raise ValueError(
                "AzureWebJobsStorage__blobServiceUri and AzureWebJobsStorage__queueServiceUri go together"
                f" (blobs and queues), unless {STORAGE_IDENTITY_SETTING} is set"
            )
        return self

    @model_validator(mode="after")
    def _cookie_secure_on_https(self) -> Settings:
        if self.refresh_cookie_secure is False and self.served_over_https:
            raise ValueError(
                "REFRESH_COOKIE_SECURE is false but the site is served over https"
                f" ({self.public_base_url}, {self.api_base_url}): the refresh cookie must be Secure there"
            )
        return self

    def require_secrets(self, *fields: str) -> None:
        """Refuse to run in production on a development value of any of these fields
        (`require_production_secrets`). A field counts as unset when its default was taken."""
        secrets: dict[str, str | None] = {}
        refusals: list[str] = []
        for name in fields:
            if name == "storage_connection":
                refusals += self._storage_refusals(secrets)
                continue
            value = getattr(self, name)
            text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            env_name = "AzureWebJobsStorage" if name == "storage_connection" else name.upper()
            secrets[env_name] = text if name in self.model_fields_set else None
        require_production_secrets(self.pbx_environment, secrets, refusals)

    def _storage_refusals(self, secrets: dict[str, str | None]) -> list[str]:
        """Storage in production: the managed identity (AzureWebJobsStorage__accountName or a
        service URI), never a connection string, which carries an account key or a SAS."""
        if "storage_connection" in self.model_fields_set:
            if _is_development_value(self.storage_connection):
                secrets["AzureWebJobsStorage"] = self.storage_connection  # "holds a development value"
                return []
            return [
                "AzureWebJobsStorage holds a connection string: a production process reaches storage with"
                f" its managed identity. Set {STORAGE_IDENTITY_SETTING} instead,"
                f" or PBX_ENVIRONMENT={LOCAL_ENVIRONMENT} for a local run."
            ]
        secrets[STORAGE_IDENTITY_SETTING] = (
            self.storage_account_name or self.storage_blob_service_uri or self.storage_queue_service_uri
        )
        return []

    # --- derived values

    @property
    def storage_identity(self) -> bool:
        """Storage is reached with the managed identity (an identity-based AzureWebJobsStorage)."""
        return bool(
            self.storage_account_name or self.storage_blob_service_uri or self.storage_queue_service_uri
        )

    def storage_service_url(self, service: Literal["blob", "queue"]) -> str | None:
        """The blob or queue endpoint under the managed identity; None when storage is reached
        with the connection string (Azurite)."""
        explicit = self.storage_blob_service_uri if service == "blob" else self.storage_queue_service_uri
        if explicit:
            return explicit.rstrip("/")
        if self.storage_account_name:
            return f"https://{self.storage_account_name}.{service}.core.windows.net"
        return None  # the connection string (a validator refuses one service URI without the other)

    @property
    def api_base_url(self) -> str:
        """This region's API base URL."""
        return self.region_base_urls[self.region]

    @property
    def cors_origins(self) -> list[str]:
        """The browser origins the API allows: WEB_ORIGINS, else the portal's own origin."""
        if self.web_origins:
            return list(self.web_origins)
        scheme, _, rest = self.public_base_url.partition("://")
        return [f"{scheme}://{rest.split('/', 1)[0]}"]

    @property
    def rtp_port_range(self) -> tuple[int, int] | None:
        """SIP_RTP_PORTS as (low, high), both included; None: the SIP stack's default."""
        if self.sip_rtp_ports is None:
            return None
        low, high = self.sip_rtp_ports.split("-")
        return int(low), int(high)

    @property
    def served_over_https(self) -> bool:
        """The portal or this region's API is served over https."""
        return self.public_base_url.startswith("https://") or self.api_base_url.startswith("https://")

    @property
    def refresh_cookie_is_secure(self) -> bool:
        """REFRESH_COOKIE_SECURE when set, else whether the site is served over https."""
        if self.refresh_cookie_secure is None:
            return self.served_over_https
        return self.refresh_cookie_secure

    @property
    def jwt_verification_secrets(self) -> list[str]:
        """The current secret first, then the previous ones."""
        return [s.get_secret_value() for s in [self.jwt_secret, *self.jwt_previous_secrets]]

    def as_env(self) -> dict[str, str]:
        """Environment variables that reproduce these settings in a child process."""
        env = {
            "CONFIGDB_ENDPOINTS": ",".join(self.configdb_endpoints),
            "PBX_ENVIRONMENT": self.pbx_environment,
            "CONFIGDB_TOKEN": self.configdb_token.get_secret_value(),
            "CONFIGDB_APP_TOKEN": self.configdb_app_token.get_secret_value(),
            "CONFIGDB_EDGE_TOKEN": self.configdb_edge_token.get_secret_value(),
            **(
                {}  # under the identity, a connection string is passed on only when one was set
                if self.storage_identity and "storage_connection" not in self.model_fields_set
                else {"AzureWebJobsStorage": self.storage_connection}
            ),
            "DATA_DIR": str(self.data_dir),
            "JWT_SECRET": self.jwt_secret.get_secret_value(),
            "JWT_PREVIOUS_SECRETS": ",".join(s.get_secret_value() for s in self.jwt_previous_secrets),
            "ACCESS_TOKEN_TTL_SECONDS": str(self.access_token_ttl_seconds),
            "REFRESH_TOKEN_TTL_SECONDS": str(self.refresh_token_ttl_seconds),
            "TRUSTED_PROXIES": ",".join(self.trusted_proxies),
            "REGION": self.region,
            "REGION_BASE_URLS": json.dumps(self.region_base_urls),
            "NUMBER_QUARANTINE_DAYS": str(self.number_quarantine_days),
            "QUOTA_USERS": str(self.quota_users),
            "QUOTA_NUMBERS": str(self.quota_numbers),
            "QUOTA_MENUS": str(self.quota_menus),
            "QUOTA_PROMPTS": str(self.quota_prompts),
            "QUOTA_MEDIA_BYTES": str(self.quota_media_bytes),
            "SMTP_HOST": self.smtp_host,
            "SMTP_PORT": str(self.smtp_port),
            "SMTP_SENDER": self.smtp_sender,
            "SMTP_STARTTLS": "true" if self.smtp_starttls else "false",
            "PUBLIC_BASE_URL": self.public_base_url,
            "WEB_ORIGINS": ",".join(self.web_origins),
            "SIP_HOST": self.sip_host,
            "SIP_PORT": str(self.sip_port),
            "TRUNK_ALLOWED_SOURCES": ",".join(self.trunk_allowed_sources),
            "PROVIDER_ADDRESS": self.provider_address,
            "CALLER_ID_POLICY": self.caller_id_policy,
            "EDGE_CONTROL_HOST": self.edge_control_host,
            "EDGE_CONTROL_PORT": str(self.edge_control_port),
            "EDGE_CONTROL_URL": self.edge_control_url,
            "EDGE_CONTROL_TOKEN": self.edge_control_token.get_secret_value(),
            "EDGE_MAX_LEGS": str(self.edge_max_legs),
            "EDGE_TENANT_SHARE": str(self.edge_tenant_share),
            "SIP_INVITE_RATE_PER_SOURCE": str(self.sip_invite_rate_per_source),
            "SIP_INVITE_BURST_PER_SOURCE": str(self.sip_invite_burst_per_source),
            "EDGE_DRAIN_SECONDS": str(self.edge_drain_seconds),
            "EDGE_RTP_TIMEOUT_S": str(self.edge_rtp_timeout_s),
            "RATES_SOURCE": self.rates_source,
        }
        if self.refresh_cookie_secure is not None:
            env["REFRESH_COOKIE_SECURE"] = "true" if self.refresh_cookie_secure else "false"
        if self.mongodb_uri is not None:
            env["MONGODB_URI"] = self.mongodb_uri.get_secret_value()
        for setting, value in (
            (STORAGE_IDENTITY_SETTING, self.storage_account_name),
            ("AzureWebJobsStorage__blobServiceUri", self.storage_blob_service_uri),
            ("AzureWebJobsStorage__queueServiceUri", self.storage_queue_service_uri),
            ("KEY_VAULT_URL", self.key_vault_url),
        ):
            if value:
                env[setting] = value
        if self.service_bus_connection is not None:
            env["ServiceBusConnection"] = self.service_bus_connection.get_secret_value()
        if self.service_bus_namespace is not None:
            env["ServiceBusConnection__fullyQualifiedNamespace"] = self.service_bus_namespace
        if self.sip_rtp_ports is not None:
            env["SIP_RTP_PORTS"] = self.sip_rtp_ports
        if self.smtp_username is not None:
            env["SMTP_USERNAME"] = self.smtp_username
        if self.smtp_password is not None:
            env["SMTP_PASSWORD"] = self.smtp_password.get_secret_value()
        return env


class NodeEnvironment(BaseSettings):
    """A ConfigDB node's settings from its environment (the node takes the rest as flags):
    PBX_ENVIRONMENT, and its credentials CONFIGDB_TOKEN (admin), CONFIGDB_PEER_TOKEN (the Raft
    peers') and CONFIGDB_TOKENS (the scoped client tokens, JSON; configdb_nodes/auth.py), from the
    environment or, below it, from Key Vault when KEY_VAULT_URL is set (`KeyVaultSecretsSource`).
    Unset credentials are None: the node falls back on the development ones only when local."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)
    secret_reader: ClassVar[Callable[[str], SecretReader] | None] = None  # as Settings.secret_reader

    pbx_environment: str = "production"
    key_vault_url: str | None = None  # KEY_VAULT_URL: the credentials below from Key Vault too
    configdb_token: SecretStr | None = None
    configdb_peer_token: SecretStr | None = None
    configdb_tokens: SecretStr | None = None
    # Telemetry (shared/telemetry.py), off unless one is set: Application Insights, or an OTLP/HTTP
    # collector.
    applicationinsights_connection_string: SecretStr | None = None
    otel_exporter_otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, KeyVaultSecretsSource(settings_cls, cls.secret_reader))

    def secret(self, name: str) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) and value.get_secret_value() else None


# The settings, by environment name, whose default is also right for production, so a deployment
# may leave them out. Every other setting a process reads must be in its host's Bicep settings
# (infra/azure: functionAppSettings, edgeEnvironment, configdbEnvironment) or its image's ENV;
# tests/unit/test_settings_contract.py checks that. Why each default is safe:
PRODUCTION_DEFAULTS = frozenset(
    {
        "PBX_ENVIRONMENT",  # "production": the development secrets are refused
        "AzureWebJobsStorage",  # Azurite only: production uses the identity (__accountName) and refuses it
        "AzureWebJobsStorage__blobServiceUri",  # derived from the account name
        "AzureWebJobsStorage__queueServiceUri",  # derived from the account name
        "KEY_VAULT_URL",  # optional: app settings may hold Key Vault references instead
        "ServiceBusConnection",  # optional: the identity form (__fullyQualifiedNamespace) is used
        "APPLICATIONINSIGHTS_CONNECTION_STRING",  # optional: no telemetry export without it
        "OTEL_EXPORTER_OTLP_ENDPOINT",  # optional: no telemetry export without it
        "JWT_PREVIOUS_SECRETS",  # none until a rotation
        "ACCESS_TOKEN_TTL_SECONDS",  # 15 minutes
        "REFRESH_TOKEN_TTL_SECONDS",  # 30 days
        "NUMBER_QUARANTINE_DAYS",  # 30 days
        "QUOTA_USERS",  # the product's per-tenant quotas; operators override per tenant
        "QUOTA_NUMBERS",
        "QUOTA_MENUS",
        "QUOTA_PROMPTS",
        "QUOTA_MEDIA_BYTES",
        "OPS_OPERATOR",  # the operator CLI's audit name; default the OS user
        "WEB_ORIGINS",  # default: PUBLIC_BASE_URL's origin (the portal and the API share it)
        "REFRESH_COOKIE_SECURE",  # default: Secure whenever the site is https
        "SIP_PORT",  # 5060, SIP's own port
        "CALLER_ID_POLICY",  # pass the original caller through
        "EDGE_CONTROL_PORT",  # 7401, the image's EXPOSEd port
        "EDGE_MAX_LEGS",  # the edge's capacity limits and pacing, sized for one edge process
        "EDGE_TENANT_SHARE",
        "SIP_INVITE_RATE_PER_SOURCE",
        "SIP_INVITE_BURST_PER_SOURCE",
        "EDGE_DRAIN_SECONDS",
        "EDGE_RTP_TIMEOUT_S",
        "SIP_EDGE_NATIVE_LOG",  # the SIP stack's own log level (sip_edge/sip/baresip_stack.py)
    }
)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once. Tests call `get_settings.cache_clear()` after changing env."""
    return Settings()
