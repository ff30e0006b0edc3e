"""Which role may do what; checked in services, not only in routes."""

from __future__ import annotations

from enum import StrEnum

from vault.errors import PermissionDenied
from vault.identities.actor import Actor
from vault.identities.models import Role


class Permission(StrEnum):
    """Actions a service checks before it acts."""

    MANAGE_USERS = "manage_users"
    MANAGE_HANDLERS = "manage_handlers"
    MANAGE_CASES = "manage_cases"
    MANAGE_PARTIES = "manage_parties"
    READ_CASES = "read_cases"
    UPLOAD_EVIDENCE = "upload_evidence"
    TAG_EVIDENCE = "tag_evidence"
    READ_ALL_EVIDENCE_METADATA = "read_all_evidence_metadata"
    REQUEST_ACCESS = "request_access"
    DECIDE_ACCESS = "decide_access"
    MANAGE_RETENTION = "manage_retention"
    APPROVE_DISPOSITION = "approve_disposition"
    EXPORT_EVIDENCE = "export_evidence"
    READ_AUDIT_LOG = "read_audit_log"
    REVEAL_PERSONAL_DATA = "reveal_personal_data"
    MANAGE_CALENDAR = "manage_calendar"
    MANAGE_CALLUPS = "manage_callups"
    DECIDE_FLAG_CLEARANCE = "decide_flag_clearance"
    REPORT_DOCK_STATUS = "report_dock_status"
    READ_DOCK_STATUS = "read_dock_status"
    EDIT_COPIES = "edit_copies"  # cut clips and redact copies of originals the actor may download
    READ_OPERATIONS = "read_operations"  # scheduled jobs' runs and the metrics: how the vault runs, no evidence


_ALL_READS = {Permission.READ_CASES, Permission.READ_ALL_EVIDENCE_METADATA}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Officers dock their own recorders, so they read the dock board too (issue 14): whether their station has
    # gone silent, and whether today's footage from their recorder arrived, before they leave the station.
    Role.OFFICER: frozenset(
        {Permission.UPLOAD_EVIDENCE, Permission.TAG_EVIDENCE, Permission.READ_CASES, Permission.REQUEST_ACCESS,
         Permission.REPORT_DOCK_STATUS, Permission.READ_DOCK_STATUS}
    ),
    Role.REVIEWER: frozenset({*_ALL_READS, Permission.REQUEST_ACCESS, Permission.EDIT_COPIES}),
    Role.APPROVER: frozenset(
        {*_ALL_READS, Permission.DECIDE_ACCESS, Permission.APPROVE_DISPOSITION, Permission.REQUEST_ACCESS,
         Permission.DECIDE_FLAG_CLEARANCE}
    ),
    Role.RECORDS_MANAGER: frozenset(
        {
            *_ALL_READS,
            Permission.MANAGE_CASES,
            Permission.MANAGE_PARTIES,
            Permission.TAG_EVIDENCE,
            Permission.MANAGE_RETENTION,
            Permission.APPROVE_DISPOSITION,
            Permission.EXPORT_EVIDENCE,
            Permission.REQUEST_ACCESS,
            Permission.REVEAL_PERSONAL_DATA,
            Permission.MANAGE_CALENDAR,
            Permission.MANAGE_CALLUPS,
            Permission.READ_DOCK_STATUS,
            Permission.EDIT_COPIES,
        }
    ),
    Role.AUDITOR: frozenset({*_ALL_READS, Permission.READ_AUDIT_LOG, Permission.READ_DOCK_STATUS,
                             Permission.READ_OPERATIONS}),
    Role.ADMIN: frozenset(
        {
            Permission.MANAGE_USERS,
            Permission.MANAGE_HANDLERS,
            Permission.MANAGE_CASES,
            Permission.MANAGE_PARTIES,
            Permission.READ_CASES,
            Permission.MANAGE_CALENDAR,
            Permission.READ_DOCK_STATUS,
            Permission.READ_OPERATIONS,
        }
    ),
}


def has_permission(actor: Actor, permission: Permission) -> bool:
    """Return whether the actor's role grants the permission; the system actor may do anything."""
    if actor.id is None and actor.role is None:
        return True
    return actor.role is not None and permission in ROLE_PERMISSIONS[actor.role]


def require(actor: Actor, permission: Permission) -> None:
    """Raise PermissionDenied unless the actor's role grants the permission."""
    if not has_permission(actor, permission):
        role = actor.role.value if actor.role else "none"
        raise PermissionDenied(
            f"role '{role}' may not {permission.value.replace('_', ' ')}",
            details={"permission": permission.value, "role": role},
        )
