"""The API's wiring: one `AppContext` per app, built from settings and the injected ports.

Nothing here has logic; it turns settings into the objects services need and owns their
lifetime (the ConfigDB client, the queue bus).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.config_repo import ConfigRepo
from shared.configdb import AsyncConfigDBClient
from shared.directory.services.accounts import AccountsConfig, AccountsService
from shared.directory.services.users import DevicesService, TenantService, UsersService
from shared.ports import Clock, MessageBus, SystemClock
from shared.security.rate_limit import LoginThrottle
from shared.security.tokens import SigningKeys
from shared.settings import Settings

from .regions import TenantHomes


@dataclass
class AppContext:
    settings: Settings
    db: AsyncConfigDBClient
    bus: MessageBus
    clock: Clock
    keys: SigningKeys
    accounts: AccountsService
    tenants: TenantService
    users: UsersService
    devices: DevicesService
    homes: TenantHomes
    owned: list[Any] = field(default_factory=list)  # resources to close at shutdown

    async def aclose(self) -> None:
        for resource in self.owned:
            await resource.aclose()


def build_context(
    settings: Settings,
    *,
    bus: MessageBus | None = None,
    clock: Clock | None = None,
    db: AsyncConfigDBClient | None = None,
    throttle: LoginThrottle | None = None,
) -> AppContext:
    owned: list[Any] = []
    if db is None:
        db = AsyncConfigDBClient(settings.configdb_endpoints, settings.configdb_token.get_secret_value())
        owned.append(db)
    if bus is None:
        from shared.adapters.storage_queue_bus import StorageQueueBus  # azure SDK only when used

        bus = StorageQueueBus(settings.storage_connection)
        owned.append(bus)
    clock = clock or SystemClock()
    secrets = settings.jwt_verification_secrets
    keys = SigningKeys(current=secrets[0], previous=tuple(secrets[1:]))
    repo = ConfigRepo(db)
    accounts = AccountsService(
        repo=repo,
        bus=bus,
        clock=clock,
        config=AccountsConfig(
            region=settings.region,
            region_base_urls=dict(settings.region_base_urls),
            public_base_url=settings.public_base_url,
            keys=keys,
            access_ttl=dt.timedelta(seconds=settings.access_token_ttl_seconds),
            refresh_ttl=dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
        ),
        # In memory, per process: good for one worker; a shared store is needed when scaled out.
        throttle=throttle or LoginThrottle(),
    )
    return AppContext(
        settings=settings,
        db=db,
        bus=bus,
        clock=clock,
        keys=keys,
        accounts=accounts,
        tenants=TenantService(repo, clock),
        users=UsersService(repo, clock),
        devices=DevicesService(repo, clock),
        homes=TenantHomes(db),
        owned=owned,
    )
