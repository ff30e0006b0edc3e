"""What every page's forms share: reading pasted record IDs, and ending a refused change."""

from __future__ import annotations

import re
import uuid

from sqlalchemy.orm import Session

from vault.errors import InvalidInput, VaultError

RECORD_ID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


def read_record_ids(values: list[str]) -> list[uuid.UUID]:
    """Read record IDs from ticked boxes or a pasted list (spaces, commas or new lines between them)."""
    found = [uuid.UUID(match) for value in values for match in RECORD_ID.findall(value)]
    if any(value.strip() for value in values) and not found:
        raise InvalidInput("记录编号格式不正确 (record IDs are UUIDs)")
    return list(dict.fromkeys(found))


def end_refused(session: Session, error: VaultError) -> str:
    """Keep a refusal that was recorded in the custody log, undo the rest; return its message for the page."""
    session.commit() if error.record_kept else session.rollback()
    return error.message


def refusal_for_form(session: Session, error: VaultError) -> dict[str, str]:
    """End a refused change as end_refused does; return its code and message for a form that shows both."""
    return {"code": error.code, "message": end_refused(session, error)}
