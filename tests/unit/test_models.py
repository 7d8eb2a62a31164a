"""Domain models: bad inputs are rejected with clear messages, shapes stay separated."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import TypeAdapter, ValidationError

from shared import configdb_keys as keys
from shared.directory.models import (
    Device,
    DeviceOut,
    IvrMenu,
    IvrMenuCreate,
    IvrMenuOut,
    IvrMenuUpdate,
    Number,
    Tenant,
    TenantPatch,
    User,
    UserCreate,
    UserOut,
    UserUpdate,
)
from shared.values import E164, EntryPoint, Id, Weekday, apply_patch, format_utc, new_ulid, new_uuid4

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
TID = "01J9Z3K4M5N6P7Q8R9S0T1V2W3"
UID = "01J9Z3K4M5N6P7Q8R9S0T1V2W4"
MID = "01J9Z3K4M5N6P7Q8R9S0T1V2W5"


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return json.dumps(exc.value.errors(include_url=False), default=str)


def tenant(**kw: object) -> Tenant:
    data: dict[str, object] = {
        "id": TID,
        "name": "Acme",
        "status": "active",
        "created_at": T0,
        "region": "eus",
        "time_zone": "America/New_York",
    }
    data.update(kw)
    return Tenant.model_validate(data)


def user_create(**kw: object) -> UserCreate:
    data: dict[str, object] = {"name": "Ann", "email": "Ann@Example.COM", "extension": "101"}
    data.update(kw)
    return UserCreate.model_validate(data)


# --------------------------------------------------------------------------- common types


@pytest.mark.parametrize("good", ["+15551234567", "+442071838750", "+49", "+123456789012345"])
def test_e164_accepts(good: str) -> None:
    assert TypeAdapter(E164).validate_python(good) == good


@pytest.mark.parametrize(
    "bad", ["15551234567", "+1 555 123 4567", "+05551234567", "+1234567890123456", "+", "+1", "+1-555", ""]
)
def test_e164_rejects(bad: str) -> None:
    with pytest.raises(ValidationError) as exc:
        TypeAdapter(E164).validate_python(bad)
    assert "E.164" in errors(exc)


def test_e164_rejects_non_string() -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(E164).validate_python(15551234567)


def test_ids_ulid_and_uuid4_normalised() -> None:
    ta = TypeAdapter(Id)
    assert ta.validate_python(TID.lower()) == TID
    u = new_uuid4()
    assert ta.validate_python(u.upper()) == u
    for bad in ["acme", "8" + TID[1:], "123e4567-e89b-12d3-a456-426614174000", TID + "0"]:
        with pytest.raises(ValidationError) as exc:
            ta.validate_python(bad)
        assert "ULID" in errors(exc)


def test_new_ulid_is_time_ordered_and_deterministic() -> None:
    a = new_ulid(T0, bytes(10))
    b = new_ulid(T0 + dt.timedelta(milliseconds=1), bytes(10))
    assert a < b and len(a) == 26
    assert TypeAdapter(Id).validate_python(a) == a
    assert new_ulid(T0, b"\x01" * 10) == new_ulid(T0, b"\x01" * 10)
    with pytest.raises(ValueError):
        new_ulid(T0.replace(tzinfo=None))


def test_utc_times_serialise_with_z_and_reject_naive() -> None:
    t = tenant(created_at="2025-03-01T07:00:00-05:00")
    assert t.created_at == T0
    assert json.loads(t.model_dump_json())["created_at"] == "2025-03-01T12:00:00Z"
    assert format_utc(T0.replace(microsecond=5)) == "2025-03-01T12:00:00.000005Z"
    with pytest.raises(ValidationError) as exc:
        tenant(created_at="2025-03-01T12:00:00")
    assert "time zone" in errors(exc)


def test_weekday_of() -> None:
    assert Weekday.of(dt.date(2025, 3, 3)) is Weekday.MON
    assert Weekday.SUN.index == 6


# --------------------------------------------------------------------------- tenant


def test_tenant_business_hours_sorted_and_string_ranges() -> None:
    t = tenant(business_hours={"mon": ["13:00-17:30", {"start": "09:00", "end": "12:00"}], "fri": []})
    assert t.business_hours is not None
    assert [(r.start, r.end) for r in t.business_hours[Weekday.MON]] == [
        ("09:00", "12:00"),
        ("13:00", "17:30"),
    ]
    # touching ranges and a range to midnight are fine
    tenant(business_hours={"tue": ["09:00-12:00", "12:00-24:00"]})


@pytest.mark.parametrize(
    ("hours", "needle"),
    [
        ({"mon": ["09:00-12:00", "11:30-17:00"]}, "overlap"),
        ({"mon": ["09:00-17:00", "10:00-11:00"]}, "overlap"),
        ({"mon": ["17:00-09:00"]}, "start must be before end"),
        ({"mon": ["09:00-09:00"]}, "start must be before end"),
        ({"mon": ["9:00-17:00"]}, "HH:MM"),
        ({"mon": ["09:00-25:00"]}, "HH:MM"),
        ({"mon": ["24:00-24:00"]}, "cannot start at 24:00"),
        ({"mon": ["09:00"]}, "time range"),
        ({"funday": ["09:00-17:00"]}, "mon"),
    ],
)
def test_tenant_bad_business_hours(hours: dict[str, list[str]], needle: str) -> None:
    with pytest.raises(ValidationError) as exc:
        tenant(business_hours=hours)
    assert needle in errors(exc)


@pytest.mark.parametrize("tz", ["Mars/Olympus", "EST5EDT+1", "america/new_york", ""])
def test_tenant_bad_time_zone(tz: str) -> None:
    with pytest.raises(ValidationError) as exc:
        tenant(time_zone=tz)
    assert "IANA" in errors(exc)


def test_tenant_locale() -> None:
    assert tenant(locale="fr_ca").locale == "fr-CA"
    assert tenant(locale="zh-hant-tw").locale == "zh-Hant-TW"
    assert tenant(locale="es-419").locale == "es-419"
    for bad in ["english", "en-USA-x", "e"]:
        with pytest.raises(ValidationError) as exc:
            tenant(locale=bad)
        assert "BCP 47" in errors(exc)


def test_tenant_holidays_and_trial() -> None:
    t = tenant(holidays=["2025-12-25", {"date": "2025-01-01", "name": "New Year"}])
    assert [h.date for h in t.holidays] == [dt.date(2025, 1, 1), dt.date(2025, 12, 25)]
    assert t.holidays[0].name == "New Year"
    with pytest.raises(ValidationError) as exc:
        tenant(holidays=["2025-12-25", "2025-12-25"])
    assert "twice" in errors(exc)
    with pytest.raises(ValidationError) as exc:
        tenant(status="trial")
    assert "trial_ends_at" in errors(exc)
    assert tenant(status="trial", trial_ends_at=T0).status == "trial"
    with pytest.raises(ValidationError):
        tenant(status="deleted")


def test_tenant_entry_points() -> None:
    t = tenant(open_entry={"type": "menu", "id": MID}, closed_entry={"type": "user", "id": UID})
    assert t.open_entry == EntryPoint(type="menu", id=MID)
    with pytest.raises(ValidationError):
        tenant(open_entry={"type": "queue", "id": MID})
    with pytest.raises(ValidationError):
        tenant(open_entry={"type": "menu", "id": MID, "extra": 1})


def test_tenant_patch() -> None:
    p = TenantPatch.model_validate({"name": "Acme 2", "closed_entry": None})
    assert p.changes() == {"name": "Acme 2", "closed_entry": None}
    t = apply_patch(tenant(closed_entry={"type": "user", "id": UID}), p)
    assert t.name == "Acme 2" and t.closed_entry is None and t.region == "eus"
    with pytest.raises(ValidationError) as exc:
        TenantPatch.model_validate({"name": None})
    assert "cannot be null" in errors(exc)
    with pytest.raises(ValidationError) as exc:
        TenantPatch.model_validate({"status": "active"})
    assert "extra_forbidden" in errors(exc)
    with pytest.raises(ValidationError):
        TenantPatch.model_validate({"time_zone": "Nowhere/Else"})
    assert TenantPatch().changes() == {}


# --------------------------------------------------------------------------- users


def test_user_create_normalises_email_and_builds_stored_user() -> None:
    uc = user_create(voicemail_pin="0042", password="correct horse")
    assert uc.email == "ann@example.com"
    u = uc.to_user(id=UID, tenant_id=TID, created_at=T0, voicemail_pin_hash="h1", password_hash="h2")
    assert u.voicemail_pin_hash == "h1" and u.password_hash == "h2" and u.extension == "101"
    out = u.to_out()
    dumped = out.model_dump()
    assert "voicemail_pin_hash" not in dumped and "password_hash" not in dumped
    assert out.has_voicemail_pin is True
    assert "h1" not in out.model_dump_json() and "h2" not in out.model_dump_json()
    # building an output model straight from the stored dump also drops the secrets
    assert "password_hash" not in UserOut.model_validate(u.model_dump()).model_dump()


@pytest.mark.parametrize(
    "bad", ["ann", "ann@", "@example.com", "ann@example", "a b@example.com", "ann@@x.com"]
)
def test_user_bad_email(bad: str) -> None:
    with pytest.raises(ValidationError) as exc:
        user_create(email=bad)
    assert "email" in errors(exc)


@pytest.mark.parametrize("bad", ["1", "1234567", "10a", "1 01", "", 101])
def test_user_bad_extension(bad: object) -> None:
    with pytest.raises(ValidationError):
        user_create(extension=bad)


def test_user_extension_keeps_leading_zero() -> None:
    assert user_create(extension="0042").extension == "0042"


@pytest.mark.parametrize(
    ("value", "ok"), [(4, False), (5, True), (120, True), (121, False), ("30", False), (30.5, False)]
)
def test_user_ring_timeout_bounds(value: object, ok: bool) -> None:
    if ok:
        assert user_create(ring_timeout_s=value).ring_timeout_s == value
    else:
        with pytest.raises(ValidationError):
            user_create(ring_timeout_s=value)


@pytest.mark.parametrize("pin", ["123", "12345678901", "12a4", 1234, "12 34"])
def test_user_bad_pin(pin: object) -> None:
    with pytest.raises(ValidationError) as exc:
        user_create(voicemail_pin=pin)
    if isinstance(pin, str):
        assert "4 to 10 digits" in errors(exc)


def test_user_pin_bounds_ok() -> None:
    assert user_create(voicemail_pin="0000").voicemail_pin == "0000"
    assert user_create(voicemail_pin="1234567890").voicemail_pin == "1234567890"


def test_user_forwarding_numbers() -> None:
    nums = [f"+1555000{i:04d}" for i in range(10)]
    assert user_create(forwarding_numbers=nums).forwarding_numbers == nums
    with pytest.raises(ValidationError) as exc:
        user_create(forwarding_numbers=[*nums, "+15559999999"])
    assert "at most 10" in errors(exc)
    with pytest.raises(ValidationError) as exc:
        user_create(forwarding_numbers=["+15551110000", "+15551110000"])
    assert "twice" in errors(exc)
    with pytest.raises(ValidationError) as exc:
        user_create(forwarding_numbers=["555-1234"])
    assert "E.164" in errors(exc)


def test_user_misc_inputs() -> None:
    with pytest.raises(ValidationError):
        user_create(role="superuser")
    with pytest.raises(ValidationError):
        user_create(ring_strategy="random")
    with pytest.raises(ValidationError):
        user_create(password="short")
    with pytest.raises(ValidationError) as exc:
        user_create(password_hash="x")
    assert "extra_forbidden" in errors(exc)
    with pytest.raises(ValidationError):
        user_create(notify={"carrier_pigeon": True})


def test_user_update_patch() -> None:
    u = user_create().to_user(id=UID, tenant_id=TID, created_at=T0)
    upd = UserUpdate.model_validate({"extension": None, "ring_timeout_s": 60, "voicemail_pin": "9999"})
    new = apply_patch(u, upd, skip=UserUpdate.SECRET_FIELDS)
    assert new.extension is None and new.ring_timeout_s == 60 and new.voicemail_pin_hash is None
    with pytest.raises(ValidationError) as exc:
        UserUpdate.model_validate({"email": None})
    assert "cannot be null" in errors(exc)
    with pytest.raises(ValidationError):
        UserUpdate.model_validate({"ring_timeout_s": 200})


def test_stored_user_ignores_unknown_fields() -> None:
    data = user_create().to_user(id=UID, tenant_id=TID, created_at=T0).model_dump(mode="json")
    data["future_field"] = 1
    assert not hasattr(User.model_validate(data), "future_field")


# --------------------------------------------------------------------------- numbers, devices


def test_number() -> None:
    n = Number.model_validate({"number": "+15551234567", "tenant_id": TID, "created_at": T0})
    assert n.entry is None
    with pytest.raises(ValidationError):
        Number.model_validate({"number": "5551234567", "tenant_id": TID, "created_at": T0})


def test_device() -> None:
    d = Device.model_validate(
        {"id": UID, "user_id": UID, "platform": "apns", "token": "a" * 64, "created_at": T0}
    )
    assert "token" not in DeviceOut.model_validate(d.model_dump()).model_dump()
    for bad in [{"platform": "wns"}, {"token": "x"}, {"token": "a" * 5000}, {"token": "has space"}]:
        data = {"id": UID, "user_id": UID, "platform": "fcm", "token": "t" * 100, "created_at": T0, **bad}
        with pytest.raises(ValidationError):
            Device.model_validate(data)


# --------------------------------------------------------------------------- ivr


def test_greeting_exactly_one() -> None:
    base = {"name": "Main"}
    for g in [{}, {"text": "hi", "prompt_id": MID}]:
        with pytest.raises(ValidationError) as exc:
            IvrMenuCreate.model_validate({**base, "greeting": g})
        assert "exactly one" in errors(exc)
    IvrMenuCreate.model_validate({**base, "greeting": {"prompt_id": MID}})


def test_actions_discriminated() -> None:
    body = {
        "name": "Main",
        "greeting": {"text": "Welcome"},
        "options": [
            {"digit": "1", "action": {"type": "transfer_user", "user_id": UID}},
            {"digit": "*", "action": {"type": "forward_external", "number": "+15551234567"}},
            {"digit": "#", "action": {"type": "dial_by_extension"}},
        ],
        "on_timeout": {"type": "go_menu", "menu_id": MID},
    }
    c = IvrMenuCreate.model_validate(body)
    menu = c.to_menu(id=MID, tenant_id=TID, created_at=T0)
    assert set(menu.options) == {"1", "*", "#"}
    assert menu.on_invalid.type == "hang_up"
    out = IvrMenuOut.from_menu(menu).model_dump(mode="json")
    assert [o["digit"] for o in out["options"]] == ["1", "*", "#"]
    assert IvrMenu.model_validate_json(menu.model_dump_json()) == menu
    bads = [
        {"digit": "1", "action": {"type": "transfer_user"}},
        {"digit": "1", "action": {"type": "teleport"}},
        {"digit": "A", "action": {"type": "hang_up"}},
        {"digit": "1", "action": {"type": "forward_external", "number": "555"}},
        {"digit": "1", "action": {"type": "hang_up", "user_id": UID}},
    ]
    for bad in bads:
        with pytest.raises(ValidationError):
            IvrMenuCreate.model_validate({**body, "options": [bad]})


@pytest.mark.parametrize(
    ("fld", "value"), [("timeout_s", 0), ("timeout_s", 61), ("max_invalid", 0), ("max_invalid", 11)]
)
def test_menu_bounds(fld: str, value: int) -> None:
    with pytest.raises(ValidationError):
        IvrMenuCreate.model_validate({"name": "M", "greeting": {"text": "x"}, fld: value})


def test_menu_duplicate_digits_refused_by_to_menu_and_update() -> None:
    opts = [{"digit": "1", "action": {"type": "hang_up"}}, {"digit": "1", "action": {"type": "repeat"}}]
    c = IvrMenuCreate.model_validate({"name": "M", "greeting": {"text": "x"}, "options": opts})
    with pytest.raises(ValueError, match="twice"):
        c.to_menu(id=MID, tenant_id=TID)
    menu = IvrMenuCreate.model_validate({"name": "M", "greeting": {"text": "x"}}).to_menu(
        id=MID, tenant_id=TID
    )
    with pytest.raises(ValueError, match="twice"):
        IvrMenuUpdate.model_validate({"options": opts}).apply_to(menu)
    new = IvrMenuUpdate.model_validate({"name": "N", "on_timeout": {"type": "hang_up"}}).apply_to(
        menu, updated_at=T0
    )
    assert new.name == "N" and new.on_timeout.type == "hang_up" and new.updated_at == T0
    with pytest.raises(ValidationError):
        IvrMenuUpdate.model_validate({"on_timeout": None})


# --------------------------------------------------------------------------- configdb keys


def test_configdb_keys() -> None:
    assert keys.tenant_key(TID) == f"t/{TID}/tenant/{TID}"
    assert keys.user_key(TID, UID) == f"t/{TID}/user/{UID}"
    assert keys.number_key(TID, "+15551234567") == f"t/{TID}/number/+15551234567"
    assert keys.menu_key(TID, MID) == f"t/{TID}/menu/{MID}"
    assert keys.device_key(TID, UID, MID) == f"t/{TID}/device/{UID}/{MID}"
    assert keys.device_key(TID, UID, MID).startswith(keys.user_devices_prefix(TID, UID))
    assert keys.extension_index_key(TID, "101") == f"t/{TID}/idx/ext/101"
    assert keys.number_index_key("+15551234567") == "idx/number/+15551234567"
    assert keys.email_index_key(" Ann@Example.com") == "idx/email/ann@example.com"
    assert keys.tenant_index_key(TID) == f"idx/tenant/{TID}"
    assert keys.user_key(TID, UID).startswith(keys.tenant_prefix(TID))
    assert keys.kind_prefix(TID, "menu") == f"t/{TID}/menu/"
    assert keys.parse_tenant_key(keys.device_key(TID, UID, MID)) == (TID, "device", f"{UID}/{MID}")
    for bad in ["", "a/b", " a"]:
        with pytest.raises(ValueError):
            keys.user_key(TID, bad)
    with pytest.raises(ValueError):
        keys.kind_prefix(TID, "widget")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        keys.parse_tenant_key("idx/number/+1555")
    assert keys.EmailIndexValue.model_validate({"tenant_id": TID, "user_id": UID}).user_id == UID
    assert keys.TenantIndexValue.model_validate({"region": "eus"}).region == "eus"


def test_json_schemas_build_for_openapi() -> None:
    import shared.directory.models as m

    names = "TenantCreate TenantPatch TenantOut UserCreate UserUpdate UserOut NumberCreate NumberUpdate"
    names += " NumberOut IvrMenuCreate IvrMenuUpdate IvrMenuOut DeviceCreate DeviceOut"
    for name in names.split():
        for mode in ("validation", "serialization"):
            assert getattr(m, name).model_json_schema(mode=mode)["type"] == "object"
    schema = m.IvrMenuCreate.model_json_schema()
    assert "discriminator" in json.dumps(schema)


def test_stored_documents_round_trip_json() -> None:
    t = tenant(
        business_hours={"mon": ["09:00-17:00"]},
        holidays=[{"date": "2025-12-25", "name": "Christmas"}],
        open_entry={"type": "menu", "id": MID},
    )
    assert Tenant.model_validate_json(t.model_dump_json()) == t
    u = user_create(forwarding_numbers=["+15551230000"]).to_user(id=UID, tenant_id=TID, created_at=T0)
    assert User.model_validate_json(u.model_dump_json()) == u
