"""Pure parts of the history API: blob names from stored documents, stats totals, the output
models (no blob names out), and the call-id path segment that never takes `active`."""

from __future__ import annotations

import datetime as dt
import re

from functions.http_api.routers.call_history import CallIdConvertor
from shared.history.models.call import ActivityItem, CallRecord
from shared.history.models.views import ActivityOut, CallOut, VoicemailOut
from shared.history.ports import DailyStats
from shared.history.services.access import blob_of, totals_of

T0 = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


def test_blob_of_accepts_only_the_tenants_blob_in_its_container() -> None:
    assert blob_of("voicemail/T1/U1/a.wav", "voicemail", "T1") == "T1/U1/a.wav"
    assert blob_of("recordings/T1/c.wav", "recordings", "T1") == "T1/c.wav"
    assert blob_of("voicemail/T2/U1/a.wav", "voicemail", "T1") is None  # another tenant
    assert blob_of("recordings/T1/c.wav", "voicemail", "T1") is None  # another container
    assert blob_of("voicemail/T1/../T2/a.wav", "voicemail", "T1") is None
    assert blob_of("voicemail/T10/U/a.wav", "voicemail", "T1") is None  # prefix, not a folder
    assert blob_of(None, "voicemail", "T1") is None
    assert blob_of(42, "voicemail", "T1") is None


def test_totals_sum_every_counter() -> None:
    days = [
        DailyStats(
            day=dt.date(2024, 5, 1),
            calls=3,
            minutes=4,
            seconds=200,
            voicemails=1,
            by_disposition={"answered": 2, "voicemail": 1},
            by_direction={"inbound": 3},
        ),
        DailyStats(day=dt.date(2024, 5, 2)),
        DailyStats(
            day=dt.date(2024, 5, 3),
            calls=1,
            minutes=1,
            seconds=30,
            by_disposition={"answered": 1},
            by_direction={"outbound": 1},
        ),
    ]
    total = totals_of(days, dt.date(2024, 5, 1))
    assert (total.calls, total.minutes, total.seconds, total.voicemails) == (4, 5, 230, 1)
    assert total.by_disposition == {"answered": 3, "voicemail": 1}
    assert total.by_direction == {"inbound": 3, "outbound": 1}
    assert days[0].by_disposition == {"answered": 2, "voicemail": 1}  # inputs untouched


def test_outputs_hide_blob_names() -> None:
    rec = CallRecord(
        call_id="c1",
        tenant_id="T1",
        number_called="+15550000001",
        started_at=T0,
        answered_at=T0 + dt.timedelta(seconds=3),
        ended_at=T0 + dt.timedelta(seconds=63),
        disposition="answered",
        recording_blob="recordings/T1/c1.wav",
    )
    out = CallOut.of(rec).model_dump(mode="json")
    assert out["duration_s"] == 63.0 and out["has_recording"] and not out["has_voicemail"]
    assert out["recording_url"] == "/api/v1/calls/c1/recording"
    assert "recording_blob" not in out and out["started_at"] == "2024-05-01T12:00:00Z"

    item = ActivityItem(
        id="voicemail:c1",
        tenant_id="T1",
        user_id="U1",
        kind="voicemail",
        call_id="c1",
        created_at=T0,
        read=True,
        data={"blob": "voicemail/T1/U1/x.wav", "seconds": 4.5, "caller": "+15551112222"},
    )
    vm = VoicemailOut.of(item)
    assert (vm.heard, vm.seconds, vm.caller) == (True, 4.5, "+15551112222")
    assert vm.audio_url == "/api/v1/voicemails/voicemail:c1/audio"
    assert ActivityOut.of(item).data == {"seconds": 4.5, "caller": "+15551112222"}
    odd = item.model_copy(update={"data": {"seconds": "long", "caller": 7}})
    assert (VoicemailOut.of(odd).seconds, VoicemailOut.of(odd).caller) == (None, None)


def test_call_id_segment_never_matches_active() -> None:
    route = re.compile(f"^/calls/(?P<id>{CallIdConvertor.regex})(?:/recording)?$")
    assert route.match("/calls/0b7a-uuid")
    assert route.match("/calls/activeX") and route.match("/calls/inactive")
    assert route.match("/calls/x/recording")
    assert not route.match("/calls/active")
    assert not route.match("/calls/active/recording")
