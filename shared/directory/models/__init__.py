"""The directory's models: tenants, users, numbers, IVR menus, prompts and devices.

Value types every model uses (E.164, ids, UTC times, business hours) are in `shared.values`.

Stored documents (ConfigDB values): Tenant, User, Number, IvrMenu, Device.
Request bodies: TenantCreate, TenantPatch, UserCreate, UserUpdate, NumberCreate, NumberUpdate,
IvrMenuCreate, IvrMenuUpdate, DeviceCreate (extra fields forbidden).
Response bodies: TenantOut, UserOut, NumberOut, IvrMenuOut, DeviceOut (no secrets).
"""

from shared.directory.models.device import Device, DeviceCreate, DeviceOut, Platform
from shared.directory.models.ivr import (
    TERMINAL_ACTIONS,
    Action,
    DialByExtension,
    Digit,
    ForwardExternal,
    GoMenu,
    Greeting,
    HangUp,
    IvrMenu,
    IvrMenuCreate,
    IvrMenuOut,
    IvrMenuUpdate,
    MenuOption,
    Repeat,
    TransferUser,
    Voicemail,
)
from shared.directory.models.number import Number, NumberCreate, NumberOut, NumberUpdate
from shared.directory.models.tenant import Tenant, TenantCreate, TenantOut, TenantPatch, TenantStatus
from shared.directory.models.user import (
    Email,
    Extension,
    NotifyOptions,
    RingStrategy,
    Role,
    User,
    UserCreate,
    UserOut,
    UserUpdate,
    VoicemailPin,
)

__all__ = [
    "TERMINAL_ACTIONS",
    "Action",
    "Device",
    "DeviceCreate",
    "DeviceOut",
    "DialByExtension",
    "Digit",
    "Email",
    "Extension",
    "ForwardExternal",
    "GoMenu",
    "Greeting",
    "HangUp",
    "IvrMenu",
    "IvrMenuCreate",
    "IvrMenuOut",
    "IvrMenuUpdate",
    "MenuOption",
    "NotifyOptions",
    "Number",
    "NumberCreate",
    "NumberOut",
    "NumberUpdate",
    "Platform",
    "Repeat",
    "RingStrategy",
    "Role",
    "Tenant",
    "TenantCreate",
    "TenantOut",
    "TenantPatch",
    "TenantStatus",
    "TransferUser",
    "User",
    "UserCreate",
    "UserOut",
    "UserUpdate",
    "Voicemail",
    "VoicemailPin",
]
