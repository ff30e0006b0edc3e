"""The top bar's links: which pages each role works in (each page still asks the services who may do what)."""

from __future__ import annotations

from dataclasses import dataclass

from evault.web.i18n import N_

OFFICER, REVIEWER, APPROVER, RECORDS_MANAGER, AUDITOR, ADMIN = (
    "officer", "reviewer", "approver", "records_manager", "auditor", "admin",
)
EVERYONE_BUT_ADMIN = frozenset({OFFICER, REVIEWER, APPROVER, RECORDS_MANAGER, AUDITOR})


@dataclass(frozen=True)
class NavLink:
    """One link of the top bar and the roles it is shown to."""

    path: str
    label: str
    roles: frozenset[str]


NAVIGATION: tuple[NavLink, ...] = (
    NavLink("/", N_("Home"), EVERYONE_BUT_ADMIN | {ADMIN}),
    NavLink("/upload", N_("Upload"), frozenset({OFFICER})),
    NavLink("/uploads", N_("My uploads"), frozenset({OFFICER})),
    NavLink("/search", N_("Search"), EVERYONE_BUT_ADMIN),
    NavLink("/cases", N_("Cases"), frozenset({RECORDS_MANAGER})),
    NavLink("/parties", N_("Parties"), frozenset({RECORDS_MANAGER})),
    NavLink("/retention", N_("Retention"), frozenset({RECORDS_MANAGER, APPROVER})),
    NavLink("/retention/policy", N_("Retention policy"), frozenset({RECORDS_MANAGER})),
    NavLink("/exports", N_("Exports"), frozenset({RECORDS_MANAGER})),
    NavLink("/callups", N_("Call-ups"), frozenset({RECORDS_MANAGER})),
    NavLink("/statistics", N_("Statistics"), frozenset({RECORDS_MANAGER, AUDITOR})),
    NavLink("/docks", N_("Docking stations"), frozenset({OFFICER, RECORDS_MANAGER, AUDITOR, ADMIN})),
    NavLink("/access/mine", N_("My requests"), frozenset({OFFICER, REVIEWER, APPROVER, RECORDS_MANAGER})),
    NavLink("/access/inbox", N_("Approvals"), frozenset({APPROVER})),
    NavLink("/redaction", N_("Redaction approvals"), frozenset({APPROVER})),
    NavLink("/uploads/reviews", N_("Flag reviews"), frozenset({APPROVER})),
    NavLink("/audit/trail", N_("Access trail"), frozenset({AUDITOR})),
    NavLink("/audit/log", N_("Custody log"), frozenset({AUDITOR})),
    NavLink("/admin/users", N_("Users"), frozenset({ADMIN})),
    NavLink("/admin/handlers", N_("Handler certificates"), frozenset({ADMIN})),
    NavLink("/admin/jobs", N_("Scheduled jobs"), frozenset({ADMIN})),
    NavLink("/admin/health", N_("Health"), frozenset({ADMIN})),
    NavLink("/docs", N_("API"), EVERYONE_BUT_ADMIN | {ADMIN}),
)


def links_for(role: str | None) -> list[NavLink]:
    """Return the top bar's links for a role, in order."""
    return [link for link in NAVIGATION if role in link.roles]
