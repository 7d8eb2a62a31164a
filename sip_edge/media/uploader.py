"""Upload recordings to Blob through a local spool, so none is lost while Blob is down.

``await uploader.submit(container, name, wav)`` first writes the file to
``{spool_dir}/{container}/{name}`` (atomically: a ``.part`` file renamed into place), then
tries the upload (`attempts` times, `retry_delay_s` apart). The spooled file is deleted only
after an upload succeeded. A background task (``start()``) re-uploads whatever is left in
the spool: once at start-up (files left by an earlier run) and then with exponential
back-off (`retry_initial_s` doubling to `retry_max_s`, reset by a success).

A call recording is written while it is made: `live_path(container, name)` is where the recorder
appends it (``{spool_dir}-live/{container}/{name}``, outside the retry loop's reach); when it ends,
``await uploader.adopt(container, name, path)`` moves the finished file into the spool and uploads
it like a submit. `start()` first adopts whatever an earlier run left there (a crash mid-call),
after fixing each file's WAV header from its size (`recorder.finalize_wav`).

Blob names: `voicemail_blob_name` -> ``{tenant}/{user}/{id}.wav`` in container ``voicemail``,
`recording_blob_name` -> ``{tenant}/{call_id}.wav`` in container ``recordings``.

Give the Blob client few or no SDK retries (``BlobMedia(conn, retry_total=0)``): this
module retries on its own, and the SDK's defaults take over a minute to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from pathlib import Path

from shared.errors import Unavailable
from shared.logs import log_event
from shared.ports import BlobWriter
from sip_edge.media.recorder import finalize_wav

log = logging.getLogger("sip_edge.media.uploader")

VOICEMAIL_CONTAINER = "voicemail"
RECORDINGS_CONTAINER = "recordings"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]{0,127}$")
_CONTAINER = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
_CONTENT_TYPES = {".wav": "audio/wav", ".json": "application/json"}


def voicemail_blob_name(tenant_id: str, user_id: str, voicemail_id: str) -> str:
    return f"{tenant_id}/{user_id}/{voicemail_id}.wav"


def recording_blob_name(tenant_id: str, call_id: str) -> str:
    return f"{tenant_id}/{call_id}.wav"


def _event(event: str, **fields: object) -> None:
    log_event(log, event, **fields)


def _check(container: str, name: str) -> None:
    if not _CONTAINER.fullmatch(container):
        raise ValueError(f"invalid container name {container!r}")
    parts = name.split("/")
    if not all(_SEGMENT.fullmatch(p) for p in parts) or any(p.endswith(".part") for p in parts):
        raise ValueError(f"invalid blob name {name!r}")


class SpoolingUploader:
    def __init__(
        self,
        blobs: BlobWriter,
        spool_dir: Path,
        *,
        attempts: int = 2,
        retry_delay_s: float = 0.5,
        retry_initial_s: float = 2.0,
        retry_max_s: float = 60.0,
    ) -> None:
        self.blobs = blobs
        self.spool_dir = Path(spool_dir)
        self.live_dir = self.spool_dir.with_name(self.spool_dir.name + "-live")
        self.attempts = max(1, attempts)
        self.retry_delay_s = retry_delay_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._inflight: dict[Path, asyncio.Future[bool]] = {}
        self._task: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()
        self.uploaded = 0
        self.failures = 0

    # -- lifecycle

    async def start(self) -> None:
        """Start the retry loop; it first uploads what an earlier run left in the spool."""
        if self._task is None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(self._recover_live)
            self._task = asyncio.create_task(self._retry_loop(), name="spool-uploader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- public

    async def submit(self, container: str, name: str, data: bytes, content_type: str | None = None) -> bool:
        """Spool, then upload. True when uploaded now; False when it stays spooled for the
        retry loop (never raises for a storage outage; ValueError for an invalid name)."""
        _check(container, name)
        path = self.spool_dir / container / name
        await asyncio.to_thread(_write_atomic, path, data)
        _event("upload_spooled", container=container, blob=name, bytes=len(data))
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.retry_delay_s)
            if await self._upload_path(path, content_type):
                return True
        self._kick.set()  # make sure the loop is armed
        return False

    def live_path(self, container: str, name: str) -> Path:
        """Where a recording being made is written before `adopt` (ValueError: invalid name)."""
        _check(container, name)
        return self.live_dir / container / name

    async def adopt(self, container: str, name: str, path: Path) -> bool:
        """Move a finished file (from `live_path`) into the spool, then upload it as `submit`
        does. True when uploaded now; False when it stays spooled for the retry loop."""
        _check(container, name)
        target = self.spool_dir / container / name
        await asyncio.to_thread(_move, path, target, self.live_dir)
        _event("upload_spooled", container=container, blob=name, bytes=target.stat().st_size)
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.retry_delay_s)
            if await self._upload_path(target, None):
                return True
        self._kick.set()
        return False

    def pending(self) -> list[tuple[str, str]]:
        """(container, name) of every spooled file not yet uploaded."""
        return [self._split(p) for p in self._spooled()]

    async def flush(self) -> int:
        """Try every spooled file once now; returns how many remain."""
        for path in self._spooled():
            await self._upload_path(path, None)
        return len(self._spooled())

    # -- internals

    def _recover_live(self) -> None:
        """Recordings an earlier run was making when it died: header fixed, into the spool."""
        if not self.live_dir.exists():
            return
        for path in sorted(p for p in self.live_dir.rglob("*") if p.is_file()):
            container, name = (
                path.relative_to(self.live_dir).parts[0],
                "/".join(path.relative_to(self.live_dir).parts[1:]),
            )
            try:
                _check(container, name)
                seconds = finalize_wav(path)
            except (ValueError, OSError) as exc:
                _event("recording_recovery_failed", path=str(path), reason=str(exc)[:200])
                continue
            _move(path, self.spool_dir / container / name, self.live_dir)
            _event("recording_recovered", container=container, blob=name, seconds=round(seconds, 2))

    def _spooled(self) -> list[Path]:
        if not self.spool_dir.exists():
            return []
        return sorted(p for p in self.spool_dir.rglob("*") if p.is_file() and not p.name.endswith(".part"))

    def _split(self, path: Path) -> tuple[str, str]:
        rel = path.relative_to(self.spool_dir).parts
        return rel[0], "/".join(rel[1:])

    async def _upload_path(self, path: Path, content_type: str | None) -> bool:
        """Upload one spooled file. When another task is already sending it (the retry
        loop and a submit can meet on the same file), wait for that attempt's outcome."""
        running = self._inflight.get(path)
        if running is not None:
            return await asyncio.shield(running)
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[path] = outcome
        ok = False
        try:
            ok = await self._send(path, content_type)
            return ok
        finally:
            del self._inflight[path]
            outcome.set_result(ok)

    async def _send(self, path: Path, content_type: str | None) -> bool:
        container, name = self._split(path)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return True  # uploaded and removed by someone else meanwhile
        ctype = content_type or _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        try:
            await self.blobs.upload(container, name, data, ctype)
        except Unavailable as exc:
            self.failures += 1
            _event("upload_failed", container=container, blob=name, reason=str(exc)[:200])
            return False
        await asyncio.to_thread(_remove, path, self.spool_dir)
        self.uploaded += 1
        _event("upload_done", container=container, blob=name, bytes=len(data))
        return True

    async def _retry_loop(self) -> None:
        delay = self.retry_initial_s
        while True:
            remaining = ok = 0
            for path in self._spooled():
                if await self._upload_path(path, None):
                    ok += 1
                else:
                    remaining += 1
            if remaining == 0:
                delay = self.retry_initial_s
                self._kick.clear()
                await self._kick.wait()  # idle until a submit leaves something behind
                await asyncio.sleep(self.retry_initial_s)
                continue
            if ok:
                delay = self.retry_initial_s
            _event("upload_retry_scheduled", pending=remaining, in_s=delay)
            await asyncio.sleep(delay)
            delay = min(self.retry_max_s, delay * 2)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _move(path: Path, target: Path, root: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    _remove(path, root)  # the emptied directories


def _remove(path: Path, root: Path) -> None:
    path.unlink(missing_ok=True)
    parent = path.parent
    while parent != root and parent.is_relative_to(root):
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break
        parent = parent.parent
