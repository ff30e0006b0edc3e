"""The search page's form: what a browser sends (text, local dates) turned into a service query, and back into links."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from ingest.continuity import CONTINUITY_FLAGS
from ingest.metadata import Activity
from ingest.retagging import COMPLIANCE_FLAGS
from ingest.tagging import DAMAGED, TAG_FLAGS
from vault.errors import InvalidInput
from vault.evidence.models import Confidentiality
from vault.evidence.search import EvidenceQuery, SortKey, SortOrder

ACTIVITIES = tuple(a.value for a in Activity)
FLAG_NAMES = tuple(sorted(TAG_FLAGS | COMPLIANCE_FLAGS | CONTINUITY_FLAGS | {DAMAGED}))
CONFIDENTIALITIES = tuple(c.value for c in Confidentiality)
SORT_KEYS = tuple(k.value for k in SortKey)
ANY_FLAG = "any"  # the flag filter's choice for "some flag open"
PAGE_SIZE = 25
_FIELDS = ("case_number", "party", "handler", "recorder_serial", "captured_from", "captured_to", "uploaded_from",
           "uploaded_to", "activity", "flag", "confidentiality", "sort", "order", "page")


@dataclass(frozen=True)
class SearchForm:
    """The form's fields as typed (dates are days in the agency's zone; `to` days are included)."""

    case_number: str = ""
    party: str = ""
    handler: str = ""
    recorder_serial: str = ""
    captured_from: str = ""
    captured_to: str = ""
    uploaded_from: str = ""
    uploaded_to: str = ""
    activity: str = ""
    flag: str = ""
    confidentiality: str = ""
    sort: str = SortKey.UPLOADED_AT.value
    order: str = SortOrder.DESC.value
    page: int = 1

    @classmethod
    def of(cls, params: dict[str, str]) -> SearchForm:
        """Read the form from query parameters, keeping only known fields."""
        values = {name: params.get(name, "").strip()[:256] for name in _FIELDS if params.get(name, "").strip()}
        page = values.pop("page", "1")
        return cls(**values, page=int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1)

    def query(self, zone: ZoneInfo) -> EvidenceQuery:
        """Return the service query; raise InvalidInput naming a field the browser sent wrong."""
        flag = _choice(self.flag, (*FLAG_NAMES, ANY_FLAG), "flag") if self.flag else None
        return EvidenceQuery(
            case_number=self.case_number or None, party=self.party or None, handler=self.handler or None,
            recorder_serial=self.recorder_serial or None,
            captured_from=_day_start(self.captured_from, zone, "captured_from"),
            captured_to=_day_start(self.captured_to, zone, "captured_to", next_day=True),
            uploaded_from=_day_start(self.uploaded_from, zone, "uploaded_from"),
            uploaded_to=_day_start(self.uploaded_to, zone, "uploaded_to", next_day=True),
            activity=_choice(self.activity, ACTIVITIES, "activity") if self.activity else None,
            flags=(flag,) if flag and flag != ANY_FLAG else (), flagged=True if flag == ANY_FLAG else None,
            confidentiality=Confidentiality(_choice(self.confidentiality, CONFIDENTIALITIES, "confidentiality"))
            if self.confidentiality else None,
            sort=SortKey(_choice(self.sort, SORT_KEYS, "sort")),
            order=SortOrder(_choice(self.order, ("asc", "desc"), "order")),
        )

    def link(self, **changes: str | int) -> str:
        """Return /search with this form's values, changed as given (empty values left out)."""
        changed = replace(self, **changes)  # type: ignore[arg-type]
        values = {name: getattr(changed, name) for name in _FIELDS}
        return "/search?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})

    def sort_link(self, key: str) -> str:
        """Return the link a column header points to: sort by it, flipping the order when it is already the key."""
        order = ("asc" if self.order == "desc" else "desc") if self.sort == key else "desc"
        return self.link(sort=key, order=order, page=1)


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{name}: 无此选项 (not one of the choices)", details={"field": name, "value": value})
    return value


def _day_start(value: str, zone: ZoneInfo, name: str, *, next_day: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name}: 日期格式应为 YYYY-MM-DD (a date is written YYYY-MM-DD)",
                           details={"field": name, "value": value}) from None
    return datetime.combine(day + timedelta(days=1 if next_day else 0), time(), tzinfo=zone)

