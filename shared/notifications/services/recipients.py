"""Who a notification goes to: a tenant, one of its users and their push devices, read from the
ConfigDB (`shared.configdb_keys`). A key that cannot exist (an id with a '/') reads as absent."""

from __future__ import annotations

from shared.configdb_keys import device_key, tenant_key, user_devices_prefix, user_key
from shared.directory.models.device import Device
from shared.directory.models.tenant import Tenant
from shared.directory.models.user import User
from shared.documents import Versioned
from shared.errors import NotFoundError, PreconditionFailed
from shared.ports import DocumentRepo


class Recipients:
    def __init__(self, repo: DocumentRepo) -> None:
        self.repo = repo

    async def tenant(self, tenant_id: str) -> Tenant | None:
        try:
            key = tenant_key(tenant_id)
        except ValueError:
            return None
        got = await self.repo.get(key, Tenant)
        return None if got is None else got.doc

    async def user(self, tenant_id: str, user_id: str) -> User | None:
        try:
            key = user_key(tenant_id, user_id)
        except ValueError:
            return None
        got = await self.repo.get(key, User)
        return None if got is None else got.doc

    async def devices(self, tenant_id: str, user_id: str) -> list[Versioned[Device]]:
        try:
            prefix = user_devices_prefix(tenant_id, user_id)
        except ValueError:
            return []
        return await self.repo.list(prefix, Device)

    async def remove_device(self, tenant_id: str, user_id: str, device: Versioned[Device]) -> bool:
        """Delete the device as it was read (a re-registration since then wins). True if deleted."""
        try:
            await self.repo.delete(device_key(tenant_id, user_id, device.doc.id), device.revision)
        except (NotFoundError, PreconditionFailed):
            return False
        return True
