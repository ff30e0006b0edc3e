"""Exit statuses of every `evault` command: documented in docs/cli.md, one meaning each, stable for scripts."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """What a command's exit status says went wrong."""

    OK = 0
    CHECK_FAILED = 1  # the command ran and its answer is "no": a broken log, an overdue call-up, a bad bundle
    USAGE = 2  # bad options or arguments (click's own status)
    AUTHENTICATION = 3  # not signed in, or the vault refused the credential (401)
    NOT_FOUND_OR_FORBIDDEN = 4  # no such thing, or this person may not see or do it (403, 404)
    CONFLICT = 5  # the vault's current state refuses the change (409, 412, 423)
    INVALID_INPUT = 6  # the vault refused what was sent (400, 413, 415, 422)
    TEMPORARY_FAILURE = 75  # EX_TEMPFAIL: the vault is unreachable, busy or failing (5xx); try again later
    CONFIGURATION = 78  # EX_CONFIG: no vault is configured or found where the command looked


_BY_STATUS = {
    401: Exit.AUTHENTICATION,
    403: Exit.NOT_FOUND_OR_FORBIDDEN,
    404: Exit.NOT_FOUND_OR_FORBIDDEN,
    410: Exit.NOT_FOUND_OR_FORBIDDEN,
    409: Exit.CONFLICT,
    412: Exit.CONFLICT,
    423: Exit.CONFLICT,
    400: Exit.INVALID_INPUT,
    413: Exit.INVALID_INPUT,
    415: Exit.INVALID_INPUT,
    422: Exit.INVALID_INPUT,
}


def exit_for_status(status: int | None) -> Exit:
    """Return the exit status for an HTTP answer (None: no answer at all)."""
    if status is None or status >= 500 or status in {408, 425, 429}:
        return Exit.TEMPORARY_FAILURE
    return _BY_STATUS.get(status, Exit.INVALID_INPUT)
