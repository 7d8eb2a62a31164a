"""The composition root of the Functions app: every adapter it uses is built here, from settings.

`Adapters` makes each adapter on first use and closes the ones it made with `aclose()`. The HTTP
API keeps one per app (`functions/http_api/context.py`) and opens its own History DB handle;
each queue, blob and timer invocation opens its own (`async with Adapters() as a:`) and uses the
process's History DB handle (a SQLite file or a MongoClient pool, both thread-safe). Tests and
benchmarks pass their own adapters where nothing real fits (a recording bus, a fixed clock, a
prepared History DB).

Which adapter implements which port:

| property | port | adapter |
|---|---|---|
| `db`, `repo` | ConfigDB client, `DocumentRepo` | `AsyncConfigDBClient`, `ConfigRepo` |
| `bus` | `MessageBus` | `ServiceBusBus` or `StorageQueueBus` (`bus_transport.make_bus`) |
| `media` | blob ports of each domain | `BlobMedia` (azure-storage-blob; Azurite or the managed identity) |
| `history` | `HistoryStore` (async) | SQLite or MongoDB, `AsyncHistoryStore` |
| `edge` | `EdgeCallControl` | `HttpEdgeControl` (the edge's control API) |
| `mailer` | `Mailer` | `SmtpMailer` |
| `sms_sender`, `push_sender` | `SmsSender`, `PushSender` | local recorders under `DATA_DIR` |
| `marketing_sink` | `MarketingSink` | local recorder under `DATA_DIR` |
| `rate_deck` | `DeckSource` | `RateDeckSource` (file or https URL) |
"""

from __future__ import annotations

from typing import Any

from azure.storage.blob import LinearRetry as BlobLinearRetry
from azure.storage.queue import LinearRetry as QueueLinearRetry

from shared.adapters.azure_credentials import storage_endpoint
from shared.adapters.blob_media import BlobMedia
from shared.adapters.bus_transport import make_bus
from shared.adapters.config_repo import ConfigRepo
from shared.adapters.edge_control import HttpEdgeControl
from shared.adapters.history import open_history_store
from shared.adapters.history.aio import AsyncHistoryStore
from shared.adapters.marketing_recorder import RecordingMarketingSink
from shared.adapters.rate_deck_source import RateDeckSource
from shared.adapters.recording_senders import RecordingPushSender, RecordingSmsSender
from shared.adapters.smtp_mailer import SmtpMailer
from shared.configdb import AsyncConfigDBClient
from shared.ports import Clock, MessageBus, SystemClock
from shared.settings import Settings, get_settings

# Storage clients give up within about 5 s: two attempts of at most 2 s to connect and 2 s per
# read, 0.5 s apart. A storage outage then answers 503 with Retry-After (shared.errors.Unavailable)
# instead of holding the request through the SDK's default retries (over a minute); queue and
# timer invocations are retried by their host.
STORAGE_CONNECT_TIMEOUT_S = 2
STORAGE_READ_TIMEOUT_S = 2
STORAGE_RETRIES = 1
STORAGE_RETRY_BACKOFF_S = 0.5


def blob_client_options() -> dict[str, Any]:
    return {
        "connection_timeout": STORAGE_CONNECT_TIMEOUT_S,
        "read_timeout": STORAGE_READ_TIMEOUT_S,
        "retry_policy": BlobLinearRetry(
            backoff=STORAGE_RETRY_BACKOFF_S, random_jitter_range=0, retry_total=STORAGE_RETRIES
        ),
    }


def queue_client_options() -> dict[str, Any]:
    return {
        "connection_timeout": STORAGE_CONNECT_TIMEOUT_S,
        "read_timeout": STORAGE_READ_TIMEOUT_S,
        "retry_policy": QueueLinearRetry(
            backoff=STORAGE_RETRY_BACKOFF_S, random_jitter_range=0, retry_total=STORAGE_RETRIES
        ),
    }


# Service Bus sends give up within about 10 s too (one retry); the queue runtime's retries and
# the outbox relay try again later.
SERVICE_BUS_RETRIES = 1
SERVICE_BUS_SEND_TIMEOUT_S = 8


def service_bus_client_options() -> dict[str, Any]:
    return {
        "retry_total": SERVICE_BUS_RETRIES,
        "retry_backoff_factor": STORAGE_RETRY_BACKOFF_S,
        "send_timeout": SERVICE_BUS_SEND_TIMEOUT_S,
    }


_PROCESS_HISTORY: dict[tuple[str, str], AsyncHistoryStore] = {}
# What a production functions app must not run on the development values of.
FUNCTIONS_SECRETS = ("jwt_secret", "configdb_app_token", "edge_control_token", "storage_connection")


def _process_history(settings: Settings) -> AsyncHistoryStore:
    """One History DB handle per process and store (thread-safe; a MongoClient is a pool)."""
    uri = settings.mongodb_uri.get_secret_value() if settings.mongodb_uri else ""
    key = (uri, str(settings.data_dir))
    if key not in _PROCESS_HISTORY:
        _PROCESS_HISTORY[key] = AsyncHistoryStore(open_history_store(settings))
    return _PROCESS_HISTORY[key]


class _Closing:
    """`aclose()` for an `AsyncHistoryStore`, whose own method is `close()`."""

    def __init__(self, store: AsyncHistoryStore) -> None:
        self.store = store

    async def aclose(self) -> None:
        await self.store.close()


class Adapters:
    """The adapters of one app or one invocation, made on first use and closed by `aclose()`."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        db: AsyncConfigDBClient | None = None,
        bus: MessageBus | None = None,
        clock: Clock | None = None,
        history: AsyncHistoryStore | None = None,
        edge: HttpEdgeControl | None = None,
        own_history: bool = False,
    ) -> None:
        """`own_history`: open a History DB handle for this object and close it with it (an app),
        rather than use the process's one (an invocation)."""
        self.settings = settings or get_settings()
        self.settings.require_secrets(*FUNCTIONS_SECRETS)
        self._db = db
        self._bus = bus
        self._clock = clock or SystemClock()
        self._history = history
        self._edge = edge
        self._own_history = own_history
        self._media: BlobMedia | None = None
        self._owned: list[Any] = []  # what this object made, closed in reverse order

    def _own(self, adapter: Any) -> Any:
        self._owned.append(adapter)
        return adapter

    @property
    def db(self) -> AsyncConfigDBClient:
        if self._db is None:
            s = self.settings
            self._db = self._own(
                AsyncConfigDBClient(s.configdb_endpoints, s.configdb_app_token.get_secret_value())
            )
        return self._db

    @property
    def repo(self) -> ConfigRepo:
        return ConfigRepo(self.db)

    @property
    def bus(self) -> MessageBus:
        if self._bus is None:
            self._bus = self._own(
                make_bus(
                    self.settings,
                    storage_options=queue_client_options(),
                    service_bus_options=service_bus_client_options(),
                )
            )
        return self._bus

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def media(self) -> BlobMedia:
        if self._media is None:
            endpoint = storage_endpoint(self.settings, "blob")  # Azurite, or the managed identity
            self._media = self._own(BlobMedia(endpoint, **blob_client_options()))
        return self._media

    @property
    def history(self) -> AsyncHistoryStore:
        if self._history is None:
            if self._own_history:
                self._history = AsyncHistoryStore(open_history_store(self.settings))
                self._own(_Closing(self._history))
            else:
                self._history = _process_history(self.settings)
        return self._history

    @property
    def edge(self) -> HttpEdgeControl:
        if self._edge is None:
            s = self.settings
            self._edge = self._own(
                HttpEdgeControl(s.edge_control_url, s.edge_control_token.get_secret_value())
            )
        return self._edge

    @property
    def mailer(self) -> SmtpMailer:
        s = self.settings
        return SmtpMailer(
            s.smtp_host,
            s.smtp_port,
            s.smtp_sender,
            s.smtp_username,
            s.smtp_password.get_secret_value() if s.smtp_password else None,
            s.smtp_starttls,
        )

    @property
    def sms_sender(self) -> RecordingSmsSender:
        return RecordingSmsSender(self.settings.data_dir / "sms")

    @property
    def push_sender(self) -> RecordingPushSender:
        return RecordingPushSender(self.settings.data_dir / "push")

    @property
    def marketing_sink(self) -> RecordingMarketingSink:
        return RecordingMarketingSink(self.settings.data_dir / "marketing")

    @property
    def rate_deck(self) -> RateDeckSource:
        return RateDeckSource(self.settings.rates_source)

    async def aclose(self) -> None:
        owned, self._owned = self._owned, []
        for adapter in reversed(owned):
            await adapter.aclose()

    async def __aenter__(self) -> Adapters:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
