"""The number inventory's pure rules: the carrier CSV, quarantine and what a tenant may claim; and
the operator's tenant status rules (resume, extend a trial)."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.directory.models.inventory import InventoryNumber, InventoryState
from shared.directory.models.tenant import Tenant, TenantStatus
from shared.directory.services.inventory import (
    InventoryFileInvalid,
    InventoryRow,
    NumberInAnotherRegion,
    NumberNotInInventory,
    NumberQuarantined,
    claim_check,
    normalise_prefix,
    parse_inventory_csv,
)
from shared.documents import Versioned
from shared.errors import ConflictError, InvalidField
from shared.lifecycle.services.trials import resumed, trial_extended

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_csv_rows_with_and_without_capabilities() -> None:
    text = "number,region,capabilities\n+15557770000,local,voice;SMS\n\n+15557770001,eus,\n"
    assert parse_inventory_csv(text) == [
        InventoryRow(2, "+15557770000", "local", ("voice", "sms")),
        InventoryRow(4, "+15557770001", "eus", ()),
    ]
    assert parse_inventory_csv("\ufeffNumber,Region\r\n+442071234567,weu\r\n") == [
        InventoryRow(2, "+442071234567", "weu")
    ]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "empty"),
        ("region,number\n+15557770000,local\n", 1, "number,region"),
        ("number,region,colour\n", 1, "unknown column 'colour'"),
        ("number,region\n+15557770000,local\n5557770001,local\n", 3, "'5557770001' is not an E.164"),
        ("number,region\n+15557770000,Local Area\n", 2, "not a region"),
        ("number,region\n+15557770000\n", 2, "expected 2 fields"),
        ("number,region,capabilities\n+15557770000,local,voice;s m s\n", 2, "not a capability"),
        ("number,region\n+15557770000,local\n+15557770000,local\n", 3, "already on line 2"),
    ],
)
def test_csv_problems_name_their_line(text: str, line: int, words: str) -> None:
    with pytest.raises(InventoryFileInvalid) as err:
        parse_inventory_csv(text)
    assert err.value.line == line and words in err.value.detail
    assert err.value.detail.startswith(f"line {line}: ")


def entry(**fields: object) -> Versioned[InventoryNumber]:
    doc = InventoryNumber.model_validate(
        {"number": "+15557770000", "region": "local", "imported_at": NOW, **fields}
    )
    return Versioned(doc, 7)


def test_quarantine_runs_out_by_itself() -> None:
    until = NOW + dt.timedelta(days=30)
    released = entry().doc.assigned_to("T1").quarantined(until)
    assert released.tenant_id is None and released.state is InventoryState.QUARANTINED
    assert released.effective_state(NOW) is InventoryState.QUARANTINED
    assert released.effective_state(until - dt.timedelta(seconds=1)) is InventoryState.QUARANTINED
    assert released.effective_state(until) is InventoryState.FREE


def test_claim_rules() -> None:
    with pytest.raises(NumberNotInInventory) as missing:
        claim_check(None, "+15557770000", "local", NOW)
    assert missing.value.status == 422 and missing.value.error_id == "number-not-in-inventory"
    with pytest.raises(NumberInAnotherRegion):
        claim_check(entry(region="weu"), "+15557770000", "local", NOW)
    until = NOW + dt.timedelta(days=30)
    with pytest.raises(NumberQuarantined) as held:
        claim_check(entry(state="quarantined", quarantined_until=until), "+15557770000", "local", NOW)
    assert held.value.status == 409 and held.value.error_id == "number-quarantined"
    assert "2026-03-31" in held.value.detail
    with pytest.raises(ConflictError) as taken:
        claim_check(entry(state="assigned", tenant_id="T1"), "+15557770000", "local", NOW)
    assert taken.value.error_id == "conflict"
    free = entry()
    assert claim_check(free, "+15557770000", "local", NOW) is free
    later = entry(state="quarantined", quarantined_until=NOW)
    assert claim_check(later, "+15557770000", "local", NOW) is later


def test_prefix() -> None:
    assert normalise_prefix(None) == "+"
    assert normalise_prefix("1555") == "+1555" and normalise_prefix("+1555") == "+1555"
    with pytest.raises(InvalidField):
        normalise_prefix("+1 555")


def tenant(**fields: object) -> Tenant:
    base = {"id": "01J9Z3K4M5N6P7Q8R9S0T1V2W3", "name": "Acme", "created_at": NOW, "region": "local"}
    return Tenant.model_validate({**base, **fields})


def test_resume_and_extend_trial() -> None:
    ended = tenant(status="suspended", trial_ends_at=NOW - dt.timedelta(days=1))
    with pytest.raises(ValueError, match="extend the trial first"):
        resumed(ended, NOW)
    extended = trial_extended(ended, 14, NOW)
    assert extended.status is TenantStatus.SUSPENDED and extended.trial_ends_at == NOW + dt.timedelta(days=14)
    back = resumed(extended, NOW)
    assert back.status is TenantStatus.TRIAL and back.status_changed_at == NOW
    billed = tenant(status="suspended", billing_account_id="acct-1")
    assert resumed(billed, NOW).status is TenantStatus.ACTIVE
    running = tenant(status="trial", trial_ends_at=NOW + dt.timedelta(days=3))
    assert trial_extended(running, 7, NOW).trial_ends_at == NOW + dt.timedelta(days=10)
    with pytest.raises(ValueError, match="not suspended"):
        resumed(running, NOW)
    with pytest.raises(ValueError, match="not on a trial"):
        trial_extended(tenant(status="active", billing_account_id="acct-1"), 7, NOW)
