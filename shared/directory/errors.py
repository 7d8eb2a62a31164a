"""The directory's own errors (all `shared.errors.DomainError`s, mapped in functions/http_api/problems.py)."""

from __future__ import annotations

from shared.errors import DomainError, field_error


class CurrentPasswordRequired(DomainError):
    """403: changing your own password or email needs your current password, and it did not match."""

    status = 403
    error_id = "current-password"
    title = "Current password required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, details={"errors": [field_error("/current_password", detail, "mismatch")]})


class PasswordSetByUser(DomainError):
    """403: nobody sets another user's password; a reset link lets the user choose one."""

    status = 403
    error_id = "password-set-by-user"
    title = "Only the user sets their password"

    def __init__(self, user_id: str) -> None:
        detail = (
            "only the user sets their own password: send them a reset link with "
            f"POST /api/v1/users/{user_id}/password-reset"
        )
        super().__init__(detail, details={"errors": [field_error("/password", detail, "forbidden")]})
