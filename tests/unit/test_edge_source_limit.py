"""The edge's per-source INVITE limiter and refusal log, on a stepped clock."""

from __future__ import annotations

from sip_edge.source_limit import RefusalLog, SourceLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_source_gets_its_burst_then_its_rate() -> None:
    clock = Clock()
    limit = SourceLimiter(clock, rate=10, burst=20)
    assert sum(limit.allow("10.0.0.1") for _ in range(500)) == 20  # 500 at once: the burst only
    clock.t += 1.0
    assert sum(limit.allow("10.0.0.1") for _ in range(500)) == 10  # then 10 per second
    assert limit.retry_after_s("10.0.0.1") >= 1


def test_one_source_flooding_leaves_the_others_alone() -> None:
    clock = Clock()
    limit = SourceLimiter(clock, rate=10, burst=20)
    for step in range(50):  # 500 INVITE/s for 5 s from one address, 2 per second from another
        clock.t += 0.1
        for _ in range(50):
            limit.allow("10.0.0.66")
        if step % 5 == 0:
            assert limit.allow("10.0.0.1"), step


def test_sources_beyond_the_table_size_forget_the_oldest() -> None:
    clock = Clock()
    limit = SourceLimiter(clock, rate=1, burst=1, max_sources=3)
    for host in ("a", "b", "c"):
        assert limit.allow(host)
    assert not limit.allow("a")
    assert limit.allow("d")  # "b" (least recently seen) is forgotten
    assert set(limit.buckets) == {"a", "c", "d"}


def test_refusal_log_writes_a_few_lines_and_counts_the_rest() -> None:
    clock = Clock()
    log = RefusalLog(clock, interval_s=5.0, lines=3)
    got = [log.record("source_rate_limited", "10.0.0.66") for _ in range(100)]
    assert got[:3] == [0, 0, 0] and got[3:] == [None] * 97
    assert log.record("source_not_on_trunk", "10.0.0.66") == 0  # another reason has its own lines
    assert log.record("source_rate_limited", "10.0.0.7") == 0  # and another source
    clock.t += 5.0
    assert log.record("source_rate_limited", "10.0.0.66") == 97  # the next line says how many
    assert log.record("source_rate_limited", "10.0.0.66") == 0
