"""A user's new email address, verified before it is used.

`UsersService.update` does not change `email` at once: it stores `pending_email` on the user and,
in the same transaction, a single-use link record

    auth/email-change/{sha256(token)}    EmailChangeRecord    expires after 48 h

and two emails in the ConfigDB outbox (shared/outbox.py): the link to the NEW address, and a
notice to the current one. Following
the link (`POST /api/v1/signup/verify`, the portal's `/verify` page, the same route as the
sign-up link) moves `email` and the global index `idx/email/{email}` in one transaction and
clears `pending_email`; only then does the login use the new address. A newer change replaces
`pending_email`, so an older link no longer matches and is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from shared import outbox
from shared.configdb_keys import EmailIndexValue, email_index_key, user_key
from shared.directory.models.user import User
from shared.documents import IndexChanges
from shared.errors import ConflictError, InvalidField, NotFoundError, PreconditionFailed
from shared.ports import Clock, DocumentRepo
from shared.security.tokens import new_refresh_token, refresh_digest
from shared.values import UtcDatetime

EMAIL_QUEUE = "email"
EMAIL_CHANGE_TTL = dt.timedelta(hours=48)


def email_change_key(digest: str) -> str:
    return f"auth/email-change/{digest}"


class EmailChangeRecord(BaseModel):
    tenant_id: str
    user_id: str
    new_email: str
    expires_at: UtcDatetime


@dataclass(frozen=True)
class PendingChange:
    """What `start` prepared: the user with `pending_email`, the link record's key and value,
    and the token for the link (only its digest is stored)."""

    user: User
    record_key: str
    record: EmailChangeRecord
    token: str


def start(user: User, new_email: str, now: dt.datetime) -> PendingChange:
    token, digest = new_refresh_token()
    record = EmailChangeRecord(
        tenant_id=user.tenant_id, user_id=user.id, new_email=new_email, expires_at=now + EMAIL_CHANGE_TTL
    )
    pending = user.model_copy(update={"pending_email": new_email})
    return PendingChange(pending, email_change_key(digest), record, token)


def outbox_entries(
    change: PendingChange, old_email: str, public_base_url: str, now: dt.datetime
) -> dict[str, Any]:
    """The two emails as outbox entries (shared/outbox.py), to claim in the user's update."""
    user, new = change.user, change.record.new_email
    link = f"{public_base_url}/verify?token={change.token}"
    hours = int(EMAIL_CHANGE_TTL.total_seconds()) // 3600
    mid = change.record_key.rsplit("/", 1)[-1][:32]
    link_mail = outbox.entry(
        EMAIL_QUEUE,
        {
            "kind": "email-change",
            "to": new,
            "subject": "Confirm your new email address",
            "text": f"Hello {user.name},\n\nconfirm {new} as the email address of your account:\n\n"
            f"{link}\n\nThe link expires in {hours} hours. Until then you keep logging in with "
            f"{old_email}.\n",
            "tenant_id": user.tenant_id,
            "user_id": user.id,
        },
        f"email-change-{mid}",
        tenant_id=user.tenant_id,
        now=now,
    )
    notice = outbox.entry(
        EMAIL_QUEUE,
        {
            "kind": "email-change-notice",
            "to": old_email,
            "subject": "Your email address is being changed",
            "text": f"Hello {user.name},\n\nsomeone asked to change the email address of your account "
            f"from {old_email} to {new}. Nothing changes until the link sent to {new} is followed.\n\n"
            "If this was not you, reset your password and tell your administrator.\n",
            "tenant_id": user.tenant_id,
            "user_id": user.id,
        },
        f"email-change-notice-{mid}",
        tenant_id=user.tenant_id,
        now=now,
    )
    return dict([link_mail, notice])


async def confirm(repo: DocumentRepo, clock: Clock, token: str) -> User | None:
    """The user after the change, or None when `token` is not an email-change link at all.

    InvalidField (400 at /token) for an expired or superseded link; ConflictError (409 at /email)
    when someone else took the address meanwhile."""
    key = email_change_key(refresh_digest(token))
    got = await repo.get(key, EmailChangeRecord)
    if got is None:
        return None
    rec = got.doc
    if rec.expires_at <= clock.now():
        raise InvalidField("/token", "the verification link is invalid or has expired", status=400)
    ukey = user_key(rec.tenant_id, rec.user_id)
    cur = await repo.get(ukey, User)
    if cur is None or cur.doc.pending_email != rec.new_email:
        with contextlib.suppress(PreconditionFailed, NotFoundError):
            await repo.delete(key, got.revision)
        raise InvalidField("/token", "this link was replaced by a newer email change", status=400)
    old = cur.doc.email
    new = cur.doc.model_copy(
        update={"email": rec.new_email, "pending_email": None, "updated_at": clock.now()}
    )
    claim = EmailIndexValue(tenant_id=rec.tenant_id, user_id=rec.user_id).model_dump()
    index = IndexChanges(claim={email_index_key(rec.new_email): claim}, release=[email_index_key(old), key])
    try:
        await repo.update(ukey, new, cur.revision, index)
    except ConflictError as exc:
        if exc.key == email_index_key(rec.new_email):
            raise ConflictError(exc.key, "this email address is already in use") from exc
        raise
    return new
