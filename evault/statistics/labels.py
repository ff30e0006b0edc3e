"""The report's words, as message ids (English; translated where shown: page, CSV, XLSX)."""

from __future__ import annotations

from evault.web.i18n import N_

NOT_CLASSIFIED = N_("Not yet classified")
NO_CASE = N_("No case")
NOT_GIVEN = N_("Not given")
NO_UNIT = N_("No unit")

TITLES: dict[str, str] = {
    "summary": N_("Summary"),
    "by_month": N_("Records by month"),
    "by_class": N_("Records by retention class"),
    "by_case_type": N_("Records by case type"),
    "by_activity": N_("Records by activity"),
    "by_unit": N_("Records by unit"),
    "by_handler": N_("Records by handler"),
    "access_by_purpose": N_("Access requests by purpose"),
    "access_by_decision": N_("Access requests by decision"),
    "exports_by_purpose": N_("Exports by purpose"),
    "disposals_by_class": N_("Disposals by retention class"),
    "due_by_class": N_("Retention coming due in the next 90 days"),
}
SUMMARY: dict[str, str] = {
    "records": N_("Records"),
    "footage_hours": N_("Hours of footage"),
    "late": N_("Late handovers"),
    "late_percent": N_("Late handovers (percent of records)"),
    "informed": N_("Party informed"),
    "informed_percent": N_("Party informed (percent of records)"),
    "gaps": N_("Recording gaps"),
    "gap_seconds": N_("Recording gaps (total seconds)"),
    "access_requests": N_("Access requests"),
    "exports": N_("Exports"),
    "disposals": N_("Disposals carried out"),
    "due_soon": N_("Retention coming due in the next 90 days"),
}
COLUMNS: dict[str, str] = {
    "measure": N_("Measure"), "value": N_("Value"), "month": N_("Month"), "records": N_("Records"),
    "hours": N_("Hours of footage"), "class": N_("Retention class"), "case_type": N_("Case type"),
    "activity": N_("Activity"), "unit": N_("Unit"), "handler": N_("Handler"), "purpose": N_("Purpose"),
    "decision": N_("Decision"), "requests": N_("Access requests"), "exports": N_("Exports"),
    "disposals": N_("Disposals carried out"),
}
