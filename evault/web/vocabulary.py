"""The names shown for stored codes, one name per code on every page, download and report (English message ids)."""

from __future__ import annotations

from evault.web.i18n import N_
from ingest.metadata import Activity
from retention.models import RetentionClass
from vault.access.models import AccessPurpose, RequestStatus
from vault.cases.models import CaseType
from vault.exports.models import ExportPurpose

CASE_TYPE_NAMES: dict[str, str] = {
    CaseType.ROUTINE_INSPECTION: N_("Routine inspection"),
    CaseType.SIMPLE_PROCEDURE: N_("Simple procedure"),
    CaseType.GENERAL_PROCEDURE_PENALTY: N_("General procedure penalty"),
    CaseType.ADMINISTRATIVE_COERCION: N_("Administrative coercion"),
    CaseType.LICENSING: N_("Licensing"),
    CaseType.COMPLAINT_VERIFICATION: N_("Complaint verification"),
}
RETENTION_CLASS_NAMES: dict[str, str] = {
    RetentionClass.ROUTINE_INSPECTION: N_("Routine inspection footage (at least 6 months)"),
    RetentionClass.CASE_EVIDENCE: N_("Case evidence (as long as the case file)"),
    RetentionClass.LONG_TERM: N_("Long-term preservation"),
    RetentionClass.DEFAULT: N_("Other records (at least 5 years)"),
}
ACTIVITY_NAMES: dict[str, str] = {
    Activity.INSPECTION: N_("Inspection"), Activity.QUESTIONING: N_("Questioning"), Activity.SEIZURE: N_("Seizure"),
    Activity.HEARING: N_("Hearing"), Activity.SERVICE: N_("Document service"),
    Activity.COERCION: N_("Coercive measure"), Activity.OTHER: N_("Other"),
}
ACCESS_PURPOSE_NAMES: dict[str, str] = {
    AccessPurpose.LEGAL_REVIEW: N_("Legal review"),
    AccessPurpose.RECONSIDERATION: N_("Administrative reconsideration"),
    AccessPurpose.LITIGATION: N_("Administrative litigation"),
    AccessPurpose.FILING_REVIEW: N_("Filing review"),
    AccessPurpose.PARTY_COPY: N_("Party's application to copy"),
    AccessPurpose.INVESTIGATION: N_("Investigation"),
}
EXPORT_PURPOSE_NAMES: dict[str, str] = {
    ExportPurpose.COURT: N_("Administrative litigation"),
    ExportPurpose.RECONSIDERATION: N_("Administrative reconsideration"),
    ExportPurpose.FILING_REVIEW: N_("Filing review"),
    ExportPurpose.PARTY_COPY: N_("Party's application to copy"),
}
REQUEST_STATUS_NAMES: dict[str, str] = {
    RequestStatus.PENDING: N_("Pending"), RequestStatus.APPROVED: N_("Approved"), RequestStatus.DENIED: N_("Denied"),
    RequestStatus.REFUSED_BY_RULE: N_("Refused by rule"),
}
