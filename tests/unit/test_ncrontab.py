"""NCRONTAB parsing and next-fire computation (functions/devhost/ncrontab.py) and binding discovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

from functions.devhost import ncrontab
from functions.devhost.bindings import discover, parse_blob_path, route_prefix
from functions.devhost.io_bindings import expand, metadata_from_body, to_bytes


def dt(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def nxt(expr: str, after: datetime) -> datetime:
    return ncrontab.parse(expr).next_after(after)


def test_every_five_seconds_seconds_first() -> None:
    assert nxt("*/5 * * * * *", dt(2026, 1, 1, 0, 0, 0)) == dt(2026, 1, 1, 0, 0, 5)
    assert nxt("*/5 * * * * *", dt(2026, 1, 1, 0, 0, 3)) == dt(2026, 1, 1, 0, 0, 5)
    assert nxt("*/5 * * * * *", dt(2026, 1, 1, 0, 0, 58)) == dt(2026, 1, 1, 0, 1, 0)


def test_strictly_after_and_microseconds() -> None:
    assert nxt("0 * * * * *", dt(2026, 1, 1, 0, 5, 0)) == dt(2026, 1, 1, 0, 6, 0)
    assert nxt("0 * * * * *", dt(2026, 1, 1, 0, 5, 0) + timedelta(microseconds=5)) == dt(2026, 1, 1, 0, 6)


def test_every_five_minutes_and_hourly() -> None:
    assert nxt("0 */5 * * * *", dt(2026, 1, 1, 10, 2, 30)) == dt(2026, 1, 1, 10, 5, 0)
    assert nxt("0 0 * * * *", dt(2026, 1, 1, 23, 0, 1)) == dt(2026, 1, 2, 0, 0, 0)


def test_daily_at_time_rolls_over_month_and_year() -> None:
    assert nxt("0 30 9 * * *", dt(2026, 12, 31, 10, 0, 0)) == dt(2027, 1, 1, 9, 30, 0)
    assert nxt("0 0 0 1 1 *", dt(2026, 6, 1)) == dt(2027, 1, 1)


def test_weekdays_ranges_lists_and_names() -> None:
    # 2026-11-28 is a Saturday
    assert nxt("0 0 9 * * 1-5", dt(2026, 11, 28, 12)) == dt(2026, 11, 30, 9)
    assert nxt("0 0 9 * * Mon-Fri", dt(2026, 11, 28, 12)) == dt(2026, 11, 30, 9)
    assert nxt("0 0 12 * * sun", dt(2026, 11, 28, 12)) == dt(2026, 11, 29, 12)
    assert nxt("0 0 12 * * 7", dt(2026, 11, 28, 12)) == dt(2026, 11, 29, 12)  # 7 is Sunday too
    assert nxt("0 15,45 * * * *", dt(2026, 1, 1, 0, 20)) == dt(2026, 1, 1, 0, 45)
    assert nxt("0 0 0 1 jan,jul *", dt(2026, 2, 1)) == dt(2026, 7, 1)


def test_day_of_month_and_weekday_both_must_match() -> None:
    # Friday the 13th: next after 2026-01-01 is 2026-02-13
    assert nxt("0 0 0 13 * 5", dt(2026, 1, 1)) == dt(2026, 2, 13)


def test_february_29_and_steps_with_start() -> None:
    assert nxt("0 0 0 29 2 *", dt(2026, 3, 1)) == dt(2028, 2, 29)
    assert nxt("10/20 * * * * *", dt(2026, 1, 1, 0, 0, 31)) == dt(2026, 1, 1, 0, 0, 50)
    assert nxt("0 0 8-18/5 * * *", dt(2026, 1, 1, 9)) == dt(2026, 1, 1, 13)


def test_naive_datetimes_are_utc() -> None:
    assert nxt("0 0 0 * * *", datetime(2026, 1, 1, 5)) == dt(2026, 1, 2)


def test_timespan_interval() -> None:
    s = ncrontab.parse("00:05:00")
    assert isinstance(s, ncrontab.IntervalSchedule)
    assert s.next_after(dt(2026, 1, 1)) == dt(2026, 1, 1, 0, 5)


@pytest.mark.parametrize(
    "expr",
    [
        "* * * * *",  # five fields: NCRONTAB needs seconds first
        "* * * * * * *",
        "60 * * * * *",
        "* * 24 * * *",
        "* * * 0 * *",
        "* * * * 13 *",
        "*/0 * * * * *",
        "5-1 * * * * *",
        "a * * * * *",
        "1,,2 * * * * *",
        "0 0 0 31 2 *",  # never fires
        "00:00:00",
    ],
)
def test_invalid(expr: str) -> None:
    with pytest.raises(ncrontab.NcrontabError):
        ncrontab.parse(expr).next_after(dt(2026, 1, 1))


def test_blob_path_patterns() -> None:
    p = parse_blob_path("uploads/{name}")
    assert (p.container, p.prefix) == ("uploads", "")
    assert p.match("a/b.txt") == {"name": "a/b.txt"}
    q = parse_blob_path("in/csv/{name}.csv")
    assert (q.container, q.prefix) == ("in", "csv/")
    assert q.match("csv/x.csv") == {"name": "x"}
    assert q.match("csv/x.txt") is None
    with pytest.raises(ValueError):
        parse_blob_path("{c}/{name}")


def test_route_prefix() -> None:
    assert route_prefix({}) == "/api"
    assert route_prefix({"extensions": {"http": {"routePrefix": ""}}}) == ""
    assert route_prefix({"extensions": {"http": {"routePrefix": "/v/"}}}) == "/v"


def test_discover_reads_decorator_bindings() -> None:
    async def asgi(scope: object, receive: object, send: object) -> None:
        return None

    app = func.AsgiFunctionApp(app=asgi, http_auth_level=func.AuthLevel.ANONYMOUS)
    bp = func.Blueprint()

    @bp.timer_trigger(schedule="*/5 * * * * *", arg_name="t", run_on_startup=True)
    def tick(t: func.TimerRequest) -> None: ...

    @bp.service_bus_queue_trigger(arg_name="msg", queue_name="work", connection="SB")
    async def work(msg: func.ServiceBusMessage, context: func.Context) -> None: ...

    @bp.blob_trigger(arg_name="b", path="uploads/{name}", connection="AzureWebJobsStorage")
    def upload(b: func.InputStream) -> None: ...

    app.register_functions(bp)
    d = discover(app)
    assert d.asgi_app is asgi
    assert d.http_functions == ("http_app_func",)
    assert {n: f.trigger for n, f in d.functions.items()} == {
        "http_app_func": "httpTrigger",
        "tick": "timerTrigger",
        "work": "serviceBusTrigger",
        "upload": "blobTrigger",
    }
    assert d.functions["tick"].setting("runOnStartup") is True
    assert d.functions["work"].setting("queueName") == "work" and d.functions["work"].is_async
    assert d.functions["work"].param_names == ("msg", "context")
    assert d.functions["upload"].arg_name == "b"


def test_binding_expressions_and_output_serialization() -> None:
    meta = metadata_from_body(b'{"orderId": "o1", "n": 2, "nested": {"x": 1}}')
    assert meta == {"orderId": "o1", "n": "2"}
    assert metadata_from_body(b"not json") == {} and metadata_from_body(b"[1]") == {}
    assert expand("out/{orderId}-{n}.txt", meta) == "out/o1-2.txt"
    assert expand("out/{ORDERID}", meta) == "out/o1"
    assert expand("x/{DateTime}", {}, now=lambda: dt(2026, 1, 2, 3, 4, 5)) == "x/2026-01-02T03-04-05Z"
    assert len(expand("x/{rand-guid}", {})) == len("x/") + 36
    with pytest.raises(KeyError):
        expand("x/{missing}", meta)
    assert to_bytes("é") == "é".encode() and to_bytes(b"b") == b"b" and to_bytes({"a": 1}) == b'{"a": 1}'
