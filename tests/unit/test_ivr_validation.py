"""Pure IVR validation: targets, duplicate digits, loops with no way out, references."""

from __future__ import annotations

import datetime as dt

from shared.directory.models import IvrMenu, IvrMenuCreate, IvrMenuUpdate, Number, Tenant, User, UserUpdate
from shared.directory.models.prompt import Prompt
from shared.directory.services.ivr_validation import (
    Reference,
    TenantConfig,
    ValidationIssue,
    escape,
    find_trapped_menus,
    references_to,
    validate_config,
    validate_entry_point,
    validate_menu_change,
    validate_user_update,
)
from shared.values import EntryPoint, new_ulid

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def ulid(n: int) -> str:
    return new_ulid(T0, n.to_bytes(10, "big"))


TID, ANN, BOB, MAIN, SALES, SUPPORT, NEW, GHOST = (ulid(i) for i in range(1, 9))

HANG = {"type": "hang_up"}
REPEAT = {"type": "repeat"}


def go(menu_id: str) -> dict[str, str]:
    return {"type": "go_menu", "menu_id": menu_id}


def opt(digit: str, action: dict[str, str]) -> dict[str, object]:
    return {"digit": digit, "action": action}


def menu(mid: str, name: str, options: dict[str, dict[str, str]] | None = None, **kw: object) -> IvrMenu:
    return IvrMenu.model_validate(
        {
            "id": mid,
            "tenant_id": TID,
            "name": name,
            "greeting": {"text": name},
            "options": options or {},
            **kw,
        }
    )


def user(uid: str, name: str, vm: bool = True) -> User:
    return User.model_validate(
        {
            "id": uid,
            "tenant_id": TID,
            "name": name,
            "email": f"{name}@acme.com",
            "voicemail_enabled": vm,
            "created_at": T0,
        }
    )


def config(
    *menus: IvrMenu, numbers: list[Number] | None = None, tenant: Tenant | None = None
) -> TenantConfig:
    return TenantConfig.of(
        tenant=tenant,
        users=[user(ANN, "ann"), user(BOB, "bob", vm=False)],
        menus=menus,
        numbers=numbers or [],
    )


def create(options: list[dict[str, object]] | None = None, **kw: object) -> IvrMenuCreate:
    return IvrMenuCreate.model_validate(
        {"name": "New", "greeting": {"text": "hi"}, "options": options or [], **kw}
    )


def codes(issues: list[ValidationIssue]) -> list[tuple[str, str]]:
    return [(i.pointer, i.code) for i in issues]


# --------------------------------------------------------------------------- targets


def test_valid_menu_has_no_issues() -> None:
    cfg = config(menu(SALES, "Sales", {"1": {"type": "transfer_user", "user_id": ANN}}))
    body = create(
        [
            opt("1", go(SALES)),
            opt("2", {"type": "voicemail", "user_id": ANN}),
            opt("3", {"type": "transfer_user", "user_id": BOB}),
            opt("4", {"type": "forward_external", "number": "+15550001111"}),
            opt("0", {"type": "dial_by_extension"}),
            opt("9", REPEAT),
        ]
    )
    assert validate_menu_change(cfg, body, NEW) == []


def test_missing_targets_are_pointed_at() -> None:
    body = create(
        [
            opt("1", go(GHOST)),
            opt("2", {"type": "transfer_user", "user_id": GHOST}),
            opt("3", {"type": "voicemail", "user_id": GHOST}),
            opt("4", {"type": "voicemail", "user_id": BOB}),
        ],
        on_timeout=go(GHOST),
    )
    issues = validate_menu_change(config(), body, NEW)
    assert codes(issues) == [
        ("/options/0/action/menu_id", "menu_not_found"),
        ("/options/1/action/user_id", "user_not_found"),
        ("/options/2/action/user_id", "user_not_found"),
        ("/options/3/action/user_id", "voicemail_disabled"),
        ("/on_timeout/menu_id", "menu_not_found"),
    ]
    assert GHOST in issues[0].message
    assert "bob" in issues[3].message and "voicemail" in issues[3].message


def test_forward_to_own_number() -> None:
    num = Number.model_validate({"number": "+15550001111", "tenant_id": TID, "created_at": T0})
    body = create([opt("1", {"type": "forward_external", "number": "+15550001111"})])
    assert codes(validate_menu_change(config(numbers=[num]), body, NEW)) == [
        ("/options/0/action/number", "forward_to_own_number")
    ]


def test_forward_to_premium_satellite_or_undialable_numbers_is_refused() -> None:
    body = create(
        [
            opt("1", {"type": "forward_external", "number": "+19005551234"}),  # US premium rate
            opt("2", {"type": "forward_external", "number": "+88163000000"}),  # Iridium
            opt("3", {"type": "forward_external", "number": "+8180"}),  # too short to dial
            opt("4", {"type": "forward_external", "number": "+12125551234"}),
        ]
    )
    issues = validate_menu_change(config(), body, NEW)
    assert codes(issues) == [
        ("/options/0/action/number", "forward_number_not_allowed"),
        ("/options/1/action/number", "forward_number_not_allowed"),
        ("/options/2/action/number", "forward_number_not_allowed"),
    ]
    assert "premium-rate" in issues[0].message and "satellite" in issues[1].message


def test_duplicate_digit_points_at_later_entry() -> None:
    body = create([opt("1", HANG), opt("2", HANG), opt("1", go(GHOST)), opt("1", HANG)])
    issues = validate_menu_change(config(), body, NEW)
    assert ("/options/2/digit", "duplicate_digit") in codes(issues)
    assert ("/options/3/digit", "duplicate_digit") in codes(issues)
    assert ("/options/2/action/menu_id", "menu_not_found") in codes(issues)
    dup = next(i for i in issues if i.pointer == "/options/2/digit")
    assert dup.message == "digit '1' is already used by option 0"


def test_update_checks_only_sent_fields_and_unknown_menu() -> None:
    # stored menu already points at a ghost (e.g. written by an older version); a rename is not blamed
    cfg = config(menu(MAIN, "Main", {"1": go(GHOST), "2": HANG}))
    assert validate_menu_change(cfg, IvrMenuUpdate(name="Main 2"), MAIN) == []
    upd = IvrMenuUpdate.model_validate({"on_invalid": go(GHOST)})
    assert codes(validate_menu_change(cfg, upd, MAIN)) == [("/on_invalid/menu_id", "menu_not_found")]
    assert codes(validate_menu_change(cfg, upd, SALES)) == [("", "menu_not_found")]


def test_entry_point_validation() -> None:
    cfg = config(menu(MAIN, "Main", {"1": HANG}))
    assert validate_entry_point(cfg, EntryPoint(type="menu", id=MAIN), "/entry") == []
    assert validate_entry_point(cfg, None, "/entry") == []
    assert codes(validate_entry_point(cfg, EntryPoint(type="menu", id=GHOST), "/open_entry")) == [
        ("/open_entry/id", "menu_not_found")
    ]
    assert codes(validate_entry_point(cfg, EntryPoint(type="user", id=GHOST), "/entry")) == [
        ("/entry/id", "user_not_found")
    ]


# --------------------------------------------------------------------------- loops


def test_self_loop_through_repeat_with_no_exit() -> None:
    body = create([opt("1", REPEAT)], on_timeout=REPEAT, on_invalid=REPEAT)
    issues = validate_menu_change(config(), body, NEW)
    assert codes(issues) == [
        ("/options/0/action", "menu_loop"),
        ("/on_timeout", "menu_loop"),
        ("/on_invalid", "menu_loop"),
    ]
    assert "loops back" in issues[1].message and "hangs up" in issues[1].message


def test_self_loop_via_go_menu_to_itself() -> None:
    cfg = config(menu(MAIN, "Main", {"1": HANG}))
    upd = IvrMenuUpdate.model_validate({"options": [opt("1", go(MAIN))], "on_invalid": REPEAT})
    issues = validate_menu_change(cfg, upd, MAIN)
    assert codes(issues) == [
        ("/options/0/action/menu_id", "menu_loop"),
        ("/on_timeout", "menu_loop"),
        ("/on_invalid", "menu_loop"),
    ]
    assert "'Main'" in issues[0].message


def test_default_menu_without_options_is_fine() -> None:
    # no options: any digit is invalid, and on_invalid defaults to hang_up
    assert validate_menu_change(config(), create(), NEW) == []


def test_two_menus_only_pointing_at_each_other() -> None:
    sales = menu(SALES, "Sales", {"1": go(MAIN)}, on_timeout=go(MAIN), on_invalid=REPEAT)
    main = menu(MAIN, "Main", {"1": go(SALES), "2": HANG}, on_invalid=REPEAT)
    cfg = config(main, sales)
    assert validate_menu_change(cfg, IvrMenuUpdate(name="x"), MAIN) == []
    # removing the only exit of Main closes the loop
    upd = IvrMenuUpdate.model_validate({"options": [opt("1", go(SALES))]})
    issues = validate_menu_change(cfg, upd, MAIN)
    assert codes(issues) == [
        ("/options/0/action/menu_id", "menu_loop"),
        ("/on_timeout", "menu_loop"),
        ("/on_invalid", "menu_loop"),
    ]
    assert "closes a loop between menus 'Main', 'Sales'" in issues[0].message or (
        "closes a loop between menus 'Sales', 'Main'" in issues[0].message
    )
    assert find_trapped_menus({MAIN: upd.apply_to(main), SALES: sales}) == [sorted([MAIN, SALES])]


def test_new_menu_into_existing_trap() -> None:
    trap = menu(SUPPORT, "Support", {}, on_timeout=REPEAT, on_invalid=REPEAT)
    cfg = config(trap)
    body = create([opt("1", go(SUPPORT))], on_invalid=go(SUPPORT))
    issues = validate_menu_change(cfg, body, NEW)
    assert codes(issues) == [
        ("/options/0/action/menu_id", "menu_loop"),
        ("/on_timeout", "menu_loop"),
        ("/on_invalid/menu_id", "menu_loop"),
    ]
    assert "leads to menus 'Support'" in issues[0].message
    assert "loops back" in issues[1].message  # the repeat of the new menu itself


def test_loop_is_fine_when_one_option_exits() -> None:
    sales = menu(SALES, "Sales", {"1": go(MAIN), "9": REPEAT}, on_timeout=go(MAIN), on_invalid=go(MAIN))
    cfg = config(sales)
    body = create(
        [opt("1", go(SALES)), opt("2", REPEAT), opt("0", {"type": "voicemail", "user_id": ANN})],
        on_timeout=go(SALES),
        on_invalid=REPEAT,
    )
    assert validate_menu_change(cfg, body, MAIN) == []
    # deep chain: A -> B -> C -> hang up; everything is fine
    a, b, c = ulid(20), ulid(21), ulid(22)
    chain = config(menu(b, "B", {"1": go(c)}, on_invalid=go(a)), menu(c, "C", {"1": HANG}))
    assert validate_menu_change(chain, create([opt("1", go(b))], on_invalid=REPEAT), a) == []


def test_loop_check_ignores_dangling_targets() -> None:
    # a go_menu to a missing menu is reported once as menu_not_found, not also as a loop
    issues = validate_menu_change(config(), create([opt("1", go(GHOST))], on_invalid=HANG), NEW)
    assert codes(issues) == [("/options/0/action/menu_id", "menu_not_found")]


def test_find_trapped_menus_groups() -> None:
    a, b, c = ulid(30), ulid(31), ulid(32)
    menus = {
        a: menu(a, "A", {"1": go(b)}, on_invalid=REPEAT),
        b: menu(b, "B", {"1": go(a)}, on_invalid=REPEAT, on_timeout=go(a)),
        c: menu(c, "C", {}, on_invalid=REPEAT),
        MAIN: menu(MAIN, "Main", {"1": go(a)}, on_invalid=HANG),
    }
    assert find_trapped_menus(menus) == sorted([sorted([a, b]), [c]])


# --------------------------------------------------------------------------- references


def test_references_to_menu_and_user() -> None:
    main = menu(MAIN, "Main", {"1": go(SALES), "2": {"type": "voicemail", "user_id": ANN}, "3": go(MAIN)})
    sales = menu(SALES, "Sales", {"1": {"type": "transfer_user", "user_id": ANN}}, on_timeout=go(MAIN))
    num = Number.model_validate(
        {"number": "+15550001111", "tenant_id": TID, "created_at": T0, "entry": {"type": "menu", "id": MAIN}}
    )
    num2 = Number.model_validate(
        {"number": "+15550002222", "tenant_id": TID, "created_at": T0, "entry": {"type": "user", "id": ANN}}
    )
    tenant = Tenant.model_validate(
        {
            "id": TID,
            "name": "Acme",
            "status": "active",
            "created_at": T0,
            "region": "eus",
            "open_entry": {"type": "menu", "id": MAIN},
            "closed_entry": {"type": "user", "id": ANN},
            "owner_user_id": ANN,
        }
    )
    cfg = config(main, sales, numbers=[num, num2], tenant=tenant)

    refs = references_to("menu", MAIN, cfg)
    assert [(r.kind, r.id, r.pointer) for r in refs] == [
        ("number", "+15550001111", "/entry"),
        ("tenant", TID, "/open_entry"),
        ("menu", SALES, "/on_timeout/menu_id"),
    ]  # Main's own option 3 is not listed
    assert refs[0].where == "number +15550001111"

    assert [(r.kind, r.pointer) for r in references_to("menu", SALES, cfg)] == [
        ("menu", "/options/0/action/menu_id")
    ]
    user_refs = references_to("user", ANN, cfg)
    assert [(r.kind, r.id, r.pointer) for r in user_refs] == [
        ("number", "+15550002222", "/entry"),
        ("tenant", TID, "/closed_entry"),
        ("tenant", TID, "/owner_user_id"),
        ("menu", MAIN, "/options/1/action/user_id"),
        ("menu", SALES, "/options/0/action/user_id"),
    ]
    assert "menu 'Main' option 2" in user_refs[3].where and "voicemail" in user_refs[3].where
    assert references_to("user", BOB, cfg) == []
    assert isinstance(user_refs[0], Reference)


def test_disabling_voicemail_in_use() -> None:
    main = menu(
        MAIN,
        "Main",
        {"1": {"type": "voicemail", "user_id": ANN}, "2": {"type": "transfer_user", "user_id": ANN}},
    )
    cfg = config(main)
    issues = validate_user_update(cfg, ANN, UserUpdate(voicemail_enabled=False))
    assert codes(issues) == [("/voicemail_enabled", "voicemail_in_use")]
    assert "menu 'Main' option 1" in issues[0].message and "option 2" not in issues[0].message
    assert validate_user_update(cfg, ANN, UserUpdate(voicemail_enabled=True)) == []
    assert validate_user_update(cfg, BOB, UserUpdate(voicemail_enabled=False)) == []


# --------------------------------------------------------------------------- whole snapshot


def test_validate_config_prefixes_pointers() -> None:
    trap = menu(SUPPORT, "Support", {"1": go(GHOST)}, on_invalid=REPEAT)
    num = Number.model_validate(
        {"number": "+15550001111", "tenant_id": TID, "created_at": T0, "entry": {"type": "user", "id": GHOST}}
    )
    issues = validate_config(config(trap, numbers=[num]))
    assert codes(issues) == [
        ("/numbers/+15550001111/entry/id", "user_not_found"),
        (f"/menus/{SUPPORT}/options/0/action/menu_id", "menu_not_found"),
        (f"/menus/{SUPPORT}/on_timeout", "menu_loop"),
        (f"/menus/{SUPPORT}/on_invalid", "menu_loop"),
    ]
    assert escape("a/b~c") == "a~1b~0c"


# --------------------------------------------------------------------------- greeting


def prompt(prompt_id: str, status: str) -> Prompt:
    return Prompt.model_validate(
        {
            "id": prompt_id,
            "name": "Welcome",
            "status": status,
            "format": "wav",
            "size_bytes": 1000,
            "created_at": T0,
            "updated_at": T0,
        }
    )


def test_a_recorded_greeting_must_exist_and_not_have_failed() -> None:
    ready, failed, converting, gone = (ulid(i) for i in range(20, 24))
    cfg = TenantConfig.of(
        users=[user(ANN, "ann")],
        prompts=[prompt(ready, "ready"), prompt(failed, "failed"), prompt(converting, "processing")],
    )

    def issues(prompt_id: str) -> list[tuple[str, str]]:
        return codes(validate_menu_change(cfg, create(greeting={"prompt_id": prompt_id}), NEW))

    assert issues(ready) == []
    assert issues(converting) == []  # the edge plays a chime until it is ready
    assert issues(failed) == [("/greeting/prompt_id", "prompt_failed")]
    assert issues(gone) == [("/greeting/prompt_id", "prompt_not_found")]
    # an update checks the greeting only when it is sent
    stored = menu(SALES, "Sales", {"1": {"type": "transfer_user", "user_id": ANN}})
    cfg2 = TenantConfig.of(users=[user(ANN, "ann")], menus=[stored], prompts=cfg.prompts.values())
    update = IvrMenuUpdate.model_validate({"greeting": {"prompt_id": gone}})
    assert codes(validate_menu_change(cfg2, update, SALES)) == [("/greeting/prompt_id", "prompt_not_found")]
    assert validate_menu_change(cfg2, IvrMenuUpdate.model_validate({"name": "Sales 2"}), SALES) == []
