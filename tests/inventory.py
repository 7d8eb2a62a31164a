"""Numbers in the operator's inventory for tests that claim numbers through the API.

`stock(endpoints, token, numbers)` adds each number as a free `idx/inventory/{e164}` entry of
`region` (the default region, "local"), leaving any that exist as they are: what
`python -m ops numbers import` does with a CSV, without starting a process per test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from shared.configdb import Compare, ConfigDBClient, Op
from shared.configdb_keys import inventory_key
from shared.directory.models.inventory import InventoryNumber


def stock(endpoints: list[str], token: str, numbers: Iterable[str], region: str = "local") -> None:
    now = dt.datetime.now(dt.UTC)
    with ConfigDBClient(endpoints, token) as db:
        for number in numbers:
            doc = InventoryNumber(number=number, region=region, capabilities=["voice"], imported_at=now)
            db.txn(
                [Compare(inventory_key(number), 0)],
                [Op.put(inventory_key(number), doc.model_dump(mode="json"))],
            )
