"""The API's services, one set per app, over the adapters of the composition root.

Nothing here has logic: `AppContext` turns the `Adapters` (functions/wiring.py) into the
services the routers call, each made on first use, and closes the adapters at shutdown.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property

from functions.wiring import Adapters
from shared.adapters.config_repo import ConfigRepo
from shared.adapters.history.aio import AsyncHistoryStore
from shared.adapters.throttle_store import ConfigThrottleStore
from shared.calls.services.caller_ids import CallerIdsService
from shared.calls.services.click_to_call import ClickToCallService
from shared.calls.services.outbound_policy import OutboundPolicyService, RatesInForce
from shared.configdb import AsyncConfigDBClient
from shared.directory.models.quota import Quotas
from shared.directory.services.accounts import AccountsConfig, AccountsService
from shared.directory.services.menus import MenusService
from shared.directory.services.numbers import NumbersService
from shared.directory.services.prompts import PromptsService
from shared.directory.services.quotas import QuotaGuard
from shared.directory.services.users import DevicesService, TenantService, UsersService
from shared.history.services.access import HistoryAccess
from shared.history.services.dashboard import DashboardService
from shared.ports import Clock, MessageBus
from shared.security.rate_limit import AuthLimits, Throttle
from shared.security.tokens import SigningKeys
from shared.settings import Settings

from .client_ip import IpNetwork, networks
from .read_cache import CachedRepo, TenantCache
from .regions import TenantHomes
from .token_cache import VerifiedTokens


class AppContext:
    def __init__(self, adapters: Adapters, limits: AuthLimits | None = None) -> None:
        self.adapters = adapters
        self.settings: Settings = adapters.settings
        secrets = self.settings.jwt_verification_secrets
        self.keys = SigningKeys(current=secrets[0], previous=tuple(secrets[1:]))
        self.tokens = VerifiedTokens()
        self.limits = limits or AuthLimits()
        self.trusted_proxies: tuple[IpNetwork, ...] = networks(self.settings.trusted_proxies)

    @property
    def db(self) -> AsyncConfigDBClient:
        return self.adapters.db

    @property
    def bus(self) -> MessageBus:
        return self.adapters.bus

    @property
    def clock(self) -> Clock:
        return self.adapters.clock

    @cached_property
    def cache(self) -> TenantCache:
        """Every tenant's documents, followed by a ConfigDB watch (functions/http_api/read_cache.py)."""
        return TenantCache(self.db)

    @cached_property
    def repo(self) -> ConfigRepo:
        """Reads of read requests come from `cache` while its watch is live; writes and the
        reads of write requests go to the ConfigDB."""
        return CachedRepo(self.db, self.cache)

    @cached_property
    def throttle(self) -> Throttle:
        """Counters in the ConfigDB (every instance shares them), blocks cached per process."""
        return Throttle(ConfigThrottleStore(self.db), self.limits)

    @cached_property
    def homes(self) -> TenantHomes:
        return TenantHomes(self.db)

    @cached_property
    def accounts(self) -> AccountsService:
        s = self.settings
        config = AccountsConfig(
            region=s.region,
            region_base_urls=dict(s.region_base_urls),
            public_base_url=s.public_base_url,
            keys=self.keys,
            access_ttl=dt.timedelta(seconds=s.access_token_ttl_seconds),
            refresh_ttl=dt.timedelta(seconds=s.refresh_token_ttl_seconds),
        )
        return AccountsService(
            repo=self.repo, bus=self.bus, clock=self.clock, config=config, throttle=self.throttle
        )

    @cached_property
    def tenants(self) -> TenantService:
        return TenantService(self.repo, self.clock)

    @cached_property
    def quotas(self) -> QuotaGuard:
        s = self.settings
        defaults = Quotas(
            users=s.quota_users,
            numbers=s.quota_numbers,
            menus=s.quota_menus,
            prompts=s.quota_prompts,
            media_bytes=s.quota_media_bytes,
        )
        return QuotaGuard(self.repo, defaults)

    @cached_property
    def users(self) -> UsersService:
        return UsersService(
            self.repo,
            self.clock,
            self.bus,
            self.settings.public_base_url,
            quotas=self.quotas,
            throttle=self.throttle,
        )

    @cached_property
    def devices(self) -> DevicesService:
        return DevicesService(self.repo, self.clock)

    @cached_property
    def menus(self) -> MenusService:
        return MenusService(self.repo, self.clock, quotas=self.quotas)

    @cached_property
    def numbers(self) -> NumbersService:
        return NumbersService(
            self.repo,
            self.clock,
            dt.timedelta(days=self.settings.number_quarantine_days),
            quotas=self.quotas,
        )

    @cached_property
    def prompts(self) -> PromptsService:
        return PromptsService(self.repo, self.adapters.media, self.clock, quotas=self.quotas)

    @cached_property
    def history(self) -> HistoryAccess:
        return HistoryAccess(self.adapters.history, self.adapters.media, self.clock)

    @cached_property
    def dashboard(self) -> DashboardService:
        return DashboardService(self.tenants, self.history, self.clock)

    @cached_property
    def rates(self) -> RatesInForce:
        return RatesInForce(self.adapters.media, self.clock)

    @cached_property
    def outbound_policy(self) -> OutboundPolicyService:
        return OutboundPolicyService(self.repo, self.adapters.history, self.rates, self.clock)

    @cached_property
    def caller_ids(self) -> CallerIdsService:
        return CallerIdsService(self.repo, self.adapters.edge, self.clock)

    @cached_property
    def calls(self) -> ClickToCallService:
        return ClickToCallService(
            self.users, self.adapters.edge, self.tenants, self.outbound_policy, self.clock, self.caller_ids
        )

    async def aclose(self) -> None:
        if "cache" in self.__dict__:
            await self.cache.stop()
        await self.adapters.aclose()


def build_context(
    settings: Settings,
    *,
    bus: MessageBus | None = None,
    clock: Clock | None = None,
    db: AsyncConfigDBClient | None = None,
    limits: AuthLimits | None = None,
    history: AsyncHistoryStore | None = None,
) -> AppContext:
    adapters = Adapters(settings, db=db, bus=bus, clock=clock, history=history, own_history=True)
    return AppContext(adapters, limits)
