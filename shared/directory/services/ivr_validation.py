"""Pure checks of IVR configuration against a tenant's snapshot.

Nothing here does I/O: the caller loads a `TenantConfig` (from ConfigDB) and gets back
`ValidationIssue`s (pointer, code, message) it can turn into a 422, or `Reference`s it can turn
into a 409 when something to be deleted is still in use.

Pointers are RFC 6901 JSON pointers into the *request/response* shape of the document, where a
menu's options are a list of `{"digit", "action"}`: e.g. `/options/2/action/menu_id`,
`/on_timeout/menu_id`, `/options/1/digit`. For a menu not sent in the body (an update that leaves
`options` unchanged), the option index is the keypad order used by `IvrMenuOut`
(1..9, 0, *, #).

Issue codes:
  duplicate_digit, user_not_found, menu_not_found, voicemail_disabled, forward_to_own_number,
  forward_number_not_allowed (premium-rate, shared-cost, satellite or undialable: the edge pays
  for the forwarded leg; `shared.calls.services.outbound_policy.classify`),
  menu_loop (the menu graph can cycle forever without reaching a terminal action),
  voicemail_in_use (disabling voicemail of a user that a menu sends callers to).

Loop rule: build a graph over menus with an edge for every `go_menu` (options, on_timeout,
on_invalid) and a self edge for every `repeat`. A menu "has a way out" if any path from it reaches
a terminal action (transfer_user, voicemail, forward_external, dial_by_extension, hang_up). Menus
without a way out form cycles that a caller can never leave; the fields of the changed menu that
lead into such a cycle are reported. A menu whose only way out is a digit (on_timeout = repeat)
is accepted: the edge caps repeated timeouts itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.calls.services.outbound_policy import classify
from shared.directory.models.ivr import TERMINAL_ACTIONS, IvrMenu, IvrMenuCreate, IvrMenuUpdate, MenuOption
from shared.directory.models.number import Number
from shared.directory.models.prompt import Prompt, PromptStatus
from shared.directory.models.tenant import Tenant
from shared.directory.models.user import User, UserUpdate
from shared.values import EntryPoint


class ValidationIssue(BaseModel):
    model_config = ConfigDict(frozen=True)

    pointer: str
    code: str
    message: str


class Reference(BaseModel):
    """Something that points at a user or menu: `kind`/`id` name the referring document,
    `pointer` the field inside it (response shape), `where` is a human description."""

    model_config = ConfigDict(frozen=True)

    where: str
    pointer: str
    kind: Literal["tenant", "number", "menu"]
    id: str


@dataclass(frozen=True)
class TenantConfig:
    """A tenant's configuration snapshot. `numbers` is keyed by E.164."""

    tenant: Tenant | None = None
    users: Mapping[str, User] = field(default_factory=dict)
    menus: Mapping[str, IvrMenu] = field(default_factory=dict)
    numbers: Mapping[str, Number] = field(default_factory=dict)
    prompts: Mapping[str, Prompt] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        tenant: Tenant | None = None,
        users: Iterable[User] = (),
        menus: Iterable[IvrMenu] = (),
        numbers: Iterable[Number] = (),
        prompts: Iterable[Prompt] = (),
    ) -> TenantConfig:
        return cls(
            tenant=tenant,
            users={u.id: u for u in users},
            menus={m.id: m for m in menus},
            numbers={n.number: n for n in numbers},
            prompts={p.id: p for p in prompts},
        )


def escape(token: str) -> str:
    """RFC 6901 escaping of one reference token."""
    return token.replace("~", "~0").replace("/", "~1")


# --------------------------------------------------------------------------- menu shape helpers

_NEW_MENU = "\x00new-menu"
_WAY_OUT = "add an option that transfers, takes a voicemail, forwards, dials by extension or hangs up"


@dataclass(frozen=True)
class _Slot:
    """One action of a menu with its pointer in request/response shape."""

    pointer: str  # pointer of the action object itself
    action: BaseModel
    label: str  # e.g. "option 3", "on_timeout"
    sent: bool  # present in the request body


def _slots(
    options: list[MenuOption], on_timeout: BaseModel, on_invalid: BaseModel, sent: set[str]
) -> list[_Slot]:
    out = [
        _Slot(f"/options/{i}/action", o.action, f"option {o.digit}", "options" in sent)
        for i, o in enumerate(options)
    ]
    out.append(_Slot("/on_timeout", on_timeout, "on_timeout", "on_timeout" in sent))
    out.append(_Slot("/on_invalid", on_invalid, "on_invalid", "on_invalid" in sent))
    return out


def _stored_slots(menu: IvrMenu) -> list[_Slot]:
    return _slots(menu.option_list(), menu.on_timeout, menu.on_invalid, set())


def _target_pointer(slot: _Slot) -> str:
    t = slot.action.type  # type: ignore[attr-defined]
    if t == "go_menu":
        return slot.pointer + "/menu_id"
    if t in ("transfer_user", "voicemail"):
        return slot.pointer + "/user_id"
    if t == "forward_external":
        return slot.pointer + "/number"
    return slot.pointer


def _menu_name(config: TenantConfig, menu_id: str, fallback: str = "this menu") -> str:
    m = config.menus.get(menu_id)
    return f"'{m.name}'" if m is not None else fallback


# --------------------------------------------------------------------------- single checks


def validate_action(
    config: TenantConfig, action: BaseModel, pointer: str, *, self_menu_id: str | None = None
) -> list[ValidationIssue]:
    """Target checks for one action whose object sits at `pointer`."""
    slot = _Slot(pointer, action, "", True)
    t = action.type  # type: ignore[attr-defined]
    at = _target_pointer(slot)
    if t in ("transfer_user", "voicemail"):
        uid = action.user_id  # type: ignore[attr-defined]
        user = config.users.get(uid)
        if user is None:
            return [ValidationIssue(pointer=at, code="user_not_found", message=f"user {uid} does not exist")]
        if t == "voicemail" and not user.voicemail_enabled:
            return [
                ValidationIssue(
                    pointer=at,
                    code="voicemail_disabled",
                    message=f"user '{user.name}' has voicemail turned off; turn it on or pick another action",
                )
            ]
    elif t == "go_menu":
        mid = action.menu_id  # type: ignore[attr-defined]
        if mid != self_menu_id and mid not in config.menus:
            return [ValidationIssue(pointer=at, code="menu_not_found", message=f"menu {mid} does not exist")]
    elif t == "forward_external":
        num = action.number  # type: ignore[attr-defined]
        if num in config.numbers:
            return [
                ValidationIssue(
                    pointer=at,
                    code="forward_to_own_number",
                    message=f"{num} is one of this account's own numbers; forwarding to it would loop",
                )
            ]
        kind = classify(num).kind
        if kind != "ok":
            what = {"premium": "a premium-rate or shared-cost", "satellite": "a satellite"}.get(
                kind, "an undialable"
            )
            return [
                ValidationIssue(
                    pointer=at,
                    code="forward_number_not_allowed",
                    message=f"{num} is {what} number, which calls are never forwarded to",
                )
            ]
    return []


def validate_entry_point(
    config: TenantConfig, entry: EntryPoint | None, pointer: str
) -> list[ValidationIssue]:
    """Checks an entry point (number entry, tenant open/closed entry) at `pointer`."""
    if entry is None:
        return []
    if entry.type == "menu" and entry.id not in config.menus:
        return [
            ValidationIssue(
                pointer=pointer + "/id", code="menu_not_found", message=f"menu {entry.id} does not exist"
            )
        ]
    if entry.type == "user" and entry.id not in config.users:
        return [
            ValidationIssue(
                pointer=pointer + "/id", code="user_not_found", message=f"user {entry.id} does not exist"
            )
        ]
    return []


def duplicate_digits(options: list[MenuOption]) -> list[ValidationIssue]:
    first: dict[str, int] = {}
    issues = []
    for i, opt in enumerate(options):
        if opt.digit in first:
            issues.append(
                ValidationIssue(
                    pointer=f"/options/{i}/digit",
                    code="duplicate_digit",
                    message=f"digit '{opt.digit}' is already used by option {first[opt.digit]}",
                )
            )
        else:
            first[opt.digit] = i
    return issues


# --------------------------------------------------------------------------- loops


def _edges(menu_id: str, slots: Iterable[_Slot]) -> tuple[bool, list[tuple[str, _Slot]]]:
    """(has a terminal action, [(target menu, slot)])"""
    terminal = False
    edges: list[tuple[str, _Slot]] = []
    for s in slots:
        t = s.action.type  # type: ignore[attr-defined]
        if t in TERMINAL_ACTIONS:
            terminal = True
        elif t == "repeat":
            edges.append((menu_id, s))
        elif t == "go_menu":
            edges.append((s.action.menu_id, s))  # type: ignore[attr-defined]
    return terminal, edges


def _graph(menus: Mapping[str, list[_Slot]]) -> tuple[set[str], dict[str, list[tuple[str, _Slot]]]]:
    exits: set[str] = set()
    graph: dict[str, list[tuple[str, _Slot]]] = {}
    for mid, slots in menus.items():
        terminal, edges = _edges(mid, slots)
        if terminal:
            exits.add(mid)
        graph[mid] = [(dst, s) for dst, s in edges if dst in menus]  # dangling targets reported elsewhere
    return exits, graph


def _trapped(exits: set[str], graph: Mapping[str, list[tuple[str, _Slot]]]) -> set[str]:
    """Menus from which no path reaches a terminal action."""
    reverse: dict[str, set[str]] = {m: set() for m in graph}
    for src, edges in graph.items():
        for dst, _ in edges:
            reverse[dst].add(src)
    ok = set(exits)
    todo = list(exits)
    while todo:
        for src in reverse[todo.pop()]:
            if src not in ok:
                ok.add(src)
                todo.append(src)
    return set(graph) - ok


def _sccs(nodes: set[str], graph: Mapping[str, list[tuple[str, _Slot]]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative) over the subgraph induced by `nodes`."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = []
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        work.append((root, iter([d for d, _ in graph[root] if d in nodes])))
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter([d for d, _ in graph[w] if d in nodes])))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def find_trapped_menus(menus: Mapping[str, IvrMenu]) -> list[list[str]]:
    """Groups (strongly connected sets, sorted) of menus from which a caller can never reach a
    terminal action. Includes menus that only lead into such a group."""
    exits, graph = _graph({mid: _stored_slots(m) for mid, m in menus.items()})
    trapped = _trapped(exits, graph)
    return sorted(_sccs(trapped, graph))


def _loop_issues(
    config: TenantConfig, menu_id: str, slots: list[_Slot], prefix: str = ""
) -> list[ValidationIssue]:
    per_menu = {mid: _stored_slots(m) for mid, m in config.menus.items() if mid != menu_id}
    per_menu[menu_id] = slots
    exits, graph = _graph(per_menu)
    trapped = _trapped(exits, graph)
    if menu_id not in trapped:
        return []
    comps = _sccs(trapped, graph)
    comp_of = {m: i for i, c in enumerate(comps) for m in c}
    mine = comp_of[menu_id]

    def names(ids: list[str]) -> str:
        return ", ".join(_menu_name(config, m) for m in ids)

    issues = []
    for dst, slot in graph[menu_id]:
        ptr = prefix + _target_pointer(slot)
        if comp_of[dst] == mine:
            group = comps[mine]
            if group == [menu_id]:
                msg = (
                    f"{slot.label} loops back to {_menu_name(config, menu_id)} and nothing in it leads out: "
                    + _WAY_OUT
                )
            else:
                msg = f"{slot.label} closes a loop between menus {names(group)} with no way out: " + _WAY_OUT
        else:
            msg = (
                f"{slot.label} leads to menus {names(comps[comp_of[dst]])}, which loop forever "
                "with no way out"
            )
        issues.append(ValidationIssue(pointer=ptr, code="menu_loop", message=msg))
    return issues


# --------------------------------------------------------------------------- entry points of the API


def validate_menu_change(
    config: TenantConfig, body: IvrMenuCreate | IvrMenuUpdate, menu_id: str | None = None
) -> list[ValidationIssue]:
    """Issues for creating (`IvrMenuCreate`, `menu_id` = the new id or None) or updating
    (`IvrMenuUpdate`, `menu_id` = the existing menu) a menu, given the tenant's snapshot.
    For an update only the fields sent are checked for dangling targets; the loop check always
    looks at the resulting menu graph."""
    if isinstance(body, IvrMenuUpdate):
        if menu_id is None or menu_id not in config.menus:
            return [
                ValidationIssue(pointer="", code="menu_not_found", message=f"menu {menu_id} does not exist")
            ]
        current = config.menus[menu_id]
        sent = set(body.model_fields_set)
        options = body.options if body.options is not None else current.option_list()
        on_timeout = body.on_timeout if body.on_timeout is not None else current.on_timeout
        on_invalid = body.on_invalid if body.on_invalid is not None else current.on_invalid
    else:
        menu_id = menu_id or _NEW_MENU
        sent = {"options", "on_timeout", "on_invalid"}
        options, on_timeout, on_invalid = body.options, body.on_timeout, body.on_invalid

    issues: list[ValidationIssue] = []
    if body.greeting is not None:
        issues += validate_greeting(config, body.greeting.prompt_id)
    if "options" in sent:
        issues += duplicate_digits(options)
    slots = _slots(options, on_timeout, on_invalid, sent)
    for s in slots:
        if s.sent:
            issues += validate_action(config, s.action, s.pointer, self_menu_id=menu_id)
    # the loop check uses the first occurrence of a duplicated digit, like to_menu would refuse to
    seen: set[str] = set()
    deduped = []
    for s, opt in zip(slots, [*options, None, None], strict=True):
        if opt is not None:
            if opt.digit in seen:
                continue
            seen.add(opt.digit)
        deduped.append(s)
    issues += _loop_issues(config, menu_id, deduped)
    return issues


def validate_greeting(config: TenantConfig, prompt_id: str | None) -> list[ValidationIssue]:
    """A recorded greeting must be one of the tenant's prompts that did not fail conversion (one
    still converting is accepted: the edge plays a chime until it is ready)."""
    if prompt_id is None:
        return []
    prompt = config.prompts.get(prompt_id)
    if prompt is None:
        return [
            ValidationIssue(
                pointer="/greeting/prompt_id",
                code="prompt_not_found",
                message="this recording does not exist; upload it again or choose another",
            )
        ]
    if prompt.status is PromptStatus.FAILED:
        return [
            ValidationIssue(
                pointer="/greeting/prompt_id",
                code="prompt_failed",
                message=f"the recording '{prompt.name}' could not be converted; upload it again",
            )
        ]
    return []


def validate_user_update(config: TenantConfig, user_id: str, update: UserUpdate) -> list[ValidationIssue]:
    """Turning voicemail off for a user that a menu sends callers to is an issue."""
    if update.voicemail_enabled is not False:
        return []
    refs = [
        r
        for r in references_to("user", user_id, config)
        if r.kind == "menu" and _action_at(config.menus[r.id], r.pointer) == "voicemail"
    ]
    if not refs:
        return []
    return [
        ValidationIssue(
            pointer="/voicemail_enabled",
            code="voicemail_in_use",
            message="voicemail is still used by " + "; ".join(r.where for r in refs),
        )
    ]


def _action_at(menu: IvrMenu, pointer: str) -> str | None:
    for s in _stored_slots(menu):
        if _target_pointer(s) == pointer:
            return s.action.type  # type: ignore[attr-defined]
    return None


def references_to(kind: Literal["menu", "user"], id: str, config: TenantConfig) -> list[Reference]:
    """Everything in the snapshot that points at menu/user `id`: number entries, the tenant's
    open/closed entries (and owner, for users), and menu actions. A menu's references to itself
    are not listed (they go away with it)."""
    if kind not in ("menu", "user"):
        raise ValueError(f"references_to: unsupported kind {kind!r}")
    refs: list[Reference] = []
    for num in sorted(config.numbers):
        entry = config.numbers[num].entry
        if entry is not None and entry.type == kind and entry.id == id:
            refs.append(Reference(where=f"number {num}", pointer="/entry", kind="number", id=num))
    t = config.tenant
    if t is not None:
        for fld, text in (("open_entry", "open-hours entry"), ("closed_entry", "closed-hours entry")):
            entry = getattr(t, fld)
            if entry is not None and entry.type == kind and entry.id == id:
                refs.append(
                    Reference(where=f"the account's {text}", pointer=f"/{fld}", kind="tenant", id=t.id)
                )
        if kind == "user" and t.owner_user_id == id:
            refs.append(
                Reference(where="the account owner", pointer="/owner_user_id", kind="tenant", id=t.id)
            )
    field_name = "menu_id" if kind == "menu" else "user_id"
    for mid in sorted(config.menus, key=lambda m: (config.menus[m].name, m)):
        if kind == "menu" and mid == id:
            continue
        menu = config.menus[mid]
        for s in _stored_slots(menu):
            if getattr(s.action, field_name, None) == id:
                what = {
                    "go_menu": "goes to it",
                    "transfer_user": "transfers to them",
                    "voicemail": "sends to their voicemail",
                }
                refs.append(
                    Reference(
                        where=f"menu '{menu.name}' {s.label} ({what[s.action.type]})",  # type: ignore[attr-defined]
                        pointer=_target_pointer(s),
                        kind="menu",
                        id=mid,
                    )
                )
    return refs


def validate_config(config: TenantConfig) -> list[ValidationIssue]:
    """Whole-snapshot check (imports, consistency jobs). Pointers are prefixed with the document:
    `/menus/{id}/options/0/action/menu_id`, `/numbers/{e164}/entry/id`, `/tenant/open_entry/id`."""
    issues: list[ValidationIssue] = []
    if config.tenant is not None:
        for fld in ("open_entry", "closed_entry"):
            issues += _prefixed(
                "/tenant", validate_entry_point(config, getattr(config.tenant, fld), f"/{fld}")
            )
    for num, n in sorted(config.numbers.items()):
        issues += _prefixed(f"/numbers/{escape(num)}", validate_entry_point(config, n.entry, "/entry"))
    exits, graph = _graph({mid: _stored_slots(m) for mid, m in config.menus.items()})
    trapped = _trapped(exits, graph)
    for mid in sorted(config.menus):
        prefix = f"/menus/{escape(mid)}"
        for s in _stored_slots(config.menus[mid]):
            issues += _prefixed(prefix, validate_action(config, s.action, s.pointer, self_menu_id=mid))
        if mid in trapped:
            issues += _loop_issues(config, mid, _stored_slots(config.menus[mid]), prefix)
    return issues


def _prefixed(prefix: str, issues: list[ValidationIssue]) -> list[ValidationIssue]:
    return [i.model_copy(update={"pointer": prefix + i.pointer}) for i in issues]


__all__ = [
    "Reference",
    "TenantConfig",
    "ValidationIssue",
    "duplicate_digits",
    "escape",
    "find_trapped_menus",
    "references_to",
    "validate_action",
    "validate_config",
    "validate_entry_point",
    "validate_menu_change",
    "validate_user_update",
]
