"""Resolve what the officer declared (case, party, handlers) and work out which tagging flags apply."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.metadata import ENFORCEMENT_ACTIVITIES, UploadMetadata
from ingest.models import IngestRecord
from ingest.probe import parse_creation_time
from ingest.rules import IngestRules, handover_deadline
from vault.cases.models import Case, Party
from vault.cases.numbers import canonical_case_number
from vault.cases.service import find_parties
from vault.evidence.models import Evidence
from vault.evidence.service import EvidenceTags, FlagReason, clear_flag, raise_flag
from vault.identities.actor import Actor
from vault.identities.certificates import certificate_state, certificate_valid_at
from vault.identities.models import Handler

UNTAGGED_CASE = "untagged_case"
UNKNOWN_CASE = "unknown_case"
UNTAGGED_PARTY = "untagged_party"
UNKNOWN_PARTY = "unknown_party"
UNTAGGED_HANDLER = "untagged_handler"
UNKNOWN_HANDLER = "unknown_handler"
CERTIFICATE_INVALID = "certificate_invalid"
FEWER_THAN_TWO_OFFICERS = "fewer_than_two_officers"
PARTY_NOT_INFORMED = "party_not_informed"
LATE_UPLOAD = "late_upload"
DAMAGED = "damaged"
CAPTURE_TIME_UNKNOWN = "capture_time_unknown"
METADATA_MISMATCH = "metadata_mismatch"

# Flags the tags decide: re-tagging raises or clears exactly these.
TAG_FLAGS = frozenset({UNTAGGED_CASE, UNKNOWN_CASE, UNTAGGED_PARTY, UNKNOWN_PARTY, UNTAGGED_HANDLER, UNKNOWN_HANDLER,
                       CERTIFICATE_INVALID, FEWER_THAN_TWO_OFFICERS, PARTY_NOT_INFORMED, LATE_UPLOAD,
                       CAPTURE_TIME_UNKNOWN, METADATA_MISMATCH})
# Of these, the ones that record a rule not kept: a tag change may not clear them without a second person's
# decision (issue 12). Labels still missing (case, party, handler) are completed by tagging alone.
COMPLIANCE_TAG_FLAGS = frozenset({CERTIFICATE_INVALID, FEWER_THAN_TWO_OFFICERS, PARTY_NOT_INFORMED, LATE_UPLOAD,
                                  CAPTURE_TIME_UNKNOWN, METADATA_MISMATCH})


def resolve_case(*, session: Session, case_number: str | None) -> Case | None:
    """Return the case with this case number (案号) in any variant, or None when none is given or none matches."""
    if not case_number:
        return None
    return session.scalar(select(Case).where(Case.case_number == canonical_case_number(case_number)))


def resolve_party(*, session: Session, name: str | None, case: Case | None) -> Party | None:
    """Return the party with this name, preferring one linked to the case; None when unknown or ambiguous."""
    if not name:
        return None
    candidates = find_parties(session=session, name=name)
    if case is not None:
        linked = [p for p in candidates if p in case.parties]
        if linked:
            return linked[0]
    return candidates[0] if len(candidates) == 1 else None


def resolve_handlers(*, session: Session, numbers: tuple[str, ...] | list[str]) -> list[Handler]:
    """Return the registered handlers among these certificate numbers (执法证号), in the given order."""
    if not numbers:
        return []
    found = {h.certificate_number: h for h in session.scalars(
        select(Handler).where(Handler.certificate_number.in_(list(numbers))))}
    return [found[n] for n in numbers if n in found]


def build_tags(*, session: Session, meta: UploadMetadata) -> EvidenceTags:
    """Turn declared metadata into catalog tags; whatever names nothing known stays unset (and gets flagged)."""
    case = resolve_case(session=session, case_number=meta.case_number)
    return EvidenceTags(
        case=case,
        party=resolve_party(session=session, name=meta.party, case=case),
        handlers=resolve_handlers(session=session, numbers=meta.handlers),
        activity=meta.activity.value if meta.activity else None,
        recorder_serial=meta.recorder_serial,
        capture_start=meta.capture_start,
        capture_end=meta.capture_end,
        party_informed=meta.party_informed,
        confidentiality=meta.confidentiality,
        notes=meta.notes,
        place=meta.place,
    )


def _label_flags(evidence: Evidence, record: IngestRecord) -> dict[str, FlagReason]:
    flags: dict[str, FlagReason] = {}
    if evidence.case is None:
        if record.given_case_number:
            flags[UNKNOWN_CASE] = FlagReason(f"案号“{record.given_case_number}”不在案件目录中",
                                             facts={"case_number": record.given_case_number})
        else:
            flags[UNTAGGED_CASE] = FlagReason("尚未填写案号")
    if evidence.party is None:
        if record.given_party:
            flags[UNKNOWN_PARTY] = FlagReason(f"当事人“{record.given_party}”不在目录中，或有重名无法确定",
                                              facts={"party": record.given_party})
        else:
            flags[UNTAGGED_PARTY] = FlagReason("尚未填写当事人")
    known = {h.certificate_number for h in evidence.handlers}
    unknown = [n for n in record.given_handlers if n not in known]
    if unknown:
        flags[UNKNOWN_HANDLER] = FlagReason(f"执法证号未登记：{'、'.join(unknown)}", facts={"certificates": unknown})
    elif not evidence.handlers:
        flags[UNTAGGED_HANDLER] = FlagReason("尚未填写承办人")
    return flags


def _certificate_note(handler: Handler, day: date) -> str:
    state = certificate_state(handler, day)
    if state is None:
        return "尚未发证"
    return f"{state.status.value}，有效期 {state.valid_from} 至 {state.valid_until}"


def _certificate_flags(evidence: Evidence, rules: IngestRules) -> dict[str, FlagReason]:
    flags: dict[str, FlagReason] = {}
    moment = evidence.capture_start or evidence.capture_end or evidence.uploaded_at
    day = moment.astimezone(rules.zone).date()
    invalid = [h for h in evidence.handlers if not certificate_valid_at(h, day)]
    if invalid:
        names = "、".join(f"{h.name}（{h.certificate_number}，{_certificate_note(h, day)}）"
                         for h in invalid)
        flags[CERTIFICATE_INVALID] = FlagReason(
            f"{day.isoformat()} 拍摄时执法证无效：{names}",
            facts={"day": day.isoformat(), "certificates": [h.certificate_number for h in invalid]})
    certified = len(evidence.handlers) - len(invalid)
    if evidence.activity in ENFORCEMENT_ACTIVITIES and certified < rules.minimum_officers:
        flags[FEWER_THAN_TWO_OFFICERS] = FlagReason(
            f"{evidence.activity} 活动只有 {certified} 名持证执法人员，至少需要 {rules.minimum_officers} 名",
            facts={"activity": evidence.activity, "certified": certified, "required": rules.minimum_officers})
    return flags


def shown_time(moment: datetime, rules: IngestRules) -> str:
    """Return a time as the agency reads it: local, to the second, with its offset."""
    return moment.astimezone(rules.zone).isoformat(sep=" ", timespec="seconds")


def _late_flag(evidence: Evidence, record: IngestRecord, rules: IngestRules) -> dict[str, FlagReason]:
    deadline = record.handover_deadline
    if deadline is None or evidence.uploaded_at <= deadline:
        return {}
    hours = round((evidence.uploaded_at - deadline).total_seconds() / 3600, 1)
    reason = record.late_reason or "未说明"
    basis = "拍摄当日"
    if record.field_return_at is not None:
        hours_allowed = f"{rules.field_handover.total_seconds() / 3600:g}"
        basis = f"外勤返回 {shown_time(record.field_return_at, rules)} 后 {hours_allowed} 小时内"
    return {LATE_UPLOAD: FlagReason(
        f"应于 {shown_time(deadline, rules)} 前移交（{basis}），{shown_time(evidence.uploaded_at, rules)} 才上传，"
        f"迟了 {hours} 小时；迟交原因：{reason}",
        facts={"deadline": deadline, "uploaded_at": evidence.uploaded_at, "hours_late": hours,
               "late_reason": record.late_reason})}


def file_capture_time(evidence: Evidence) -> datetime | None:
    """Return the capture time the file itself carries (photo EXIF, else the container's creation_time)."""
    exif = evidence.media_info.get("exif") or {}
    own = parse_creation_time(exif.get("capture_time"))
    return own or parse_creation_time(evidence.media_info.get("creation_time"))


def _mismatches(evidence: Evidence, record: IngestRecord, rules: IngestRules) -> list[FlagReason]:
    found: list[FlagReason] = []
    own, start, slack = file_capture_time(evidence), evidence.capture_start, rules.clock_tolerance
    if own is not None and start is not None and abs(start - own) > slack:
        hours = abs(start - own).total_seconds() / 3600
        offset = own.astimezone(rules.zone).utcoffset()
        hint = "，正好是本地时区的偏移，记录仪可能把本地时间当作 UTC 写入" if offset and abs(start - own) == abs(
            offset) else ""
        found.append(FlagReason(
            f"申报的开始拍摄时间 {shown_time(start, rules)} 与文件自带的拍摄时间 {shown_time(own, rules)} "
            f"相差 {hours:.2f} 小时{hint}", code="capture_start_differs_from_file",
            facts={"declared_capture_start": start, "file_capture_time": own}))
    if own is not None and own > evidence.uploaded_at + slack:
        found.append(FlagReason(
            f"文件自带的拍摄时间 {shown_time(own, rules)} 晚于上传时间 {shown_time(evidence.uploaded_at, rules)}",
            code="file_time_after_upload", facts={"file_capture_time": own, "uploaded_at": evidence.uploaded_at}))
    returned = record.field_return_at
    if returned is not None and start is not None and returned < start - slack:
        found.append(FlagReason(
            f"申报的外勤返回时间 {shown_time(returned, rules)} 早于开始拍摄时间 {shown_time(start, rules)}",
            code="field_return_before_capture", facts={"field_return_at": returned, "capture_start": start}))
    return found


def _capture_flags(evidence: Evidence, record: IngestRecord, rules: IngestRules) -> dict[str, FlagReason]:
    flags: dict[str, FlagReason] = {}
    if evidence.capture_start is None and evidence.capture_end is None:
        flags[CAPTURE_TIME_UNKNOWN] = FlagReason(
            "文件没有拍摄时间（无 EXIF 或 creation_time），上传时也未申报：无法核对移交期限和录像连续性",
            facts={"media_type": evidence.media_type})
    found = _mismatches(evidence, record, rules)
    if found:
        flags[METADATA_MISMATCH] = FlagReason(
            "；".join(f.text for f in found), code=",".join(f.code for f in found),
            facts={k: v for f in found for k, v in f.facts.items()})
    return flags


def expected_tag_flags(*, evidence: Evidence, record: IngestRecord, rules: IngestRules) -> dict[str, FlagReason]:
    """Return the tagging flags (name -> reason) the record's current tags and the file's own facts call for."""
    record.handover_deadline = handover_deadline(
        capture_end=evidence.capture_end or evidence.capture_start, field_return_at=record.field_return_at,
        rules=rules)
    flags = _label_flags(evidence, record)
    flags.update(_certificate_flags(evidence, rules))
    if not evidence.party_informed:
        flags[PARTY_NOT_INFORMED] = FlagReason("未记录已告知当事人开始录像（第十三条(一)）")
    flags.update(_late_flag(evidence, record, rules))
    flags.update(_capture_flags(evidence, record, rules))
    return flags


def sync_flags(
    *, session: Session, actor: Actor, evidence: Evidence, wanted: dict[str, FlagReason], governed: frozenset[str],
    now: datetime, reason: str = "no longer applies after re-tagging",
) -> None:
    """Raise every wanted flag not yet open; clear open flags in `governed` that are no longer wanted.

    A governed flag whose reason changed (e.g. a late reason given afterwards) is cleared and raised anew.
    """
    open_now = {f.flag: f.detail for f in evidence.flags if f.cleared_at is None}
    for flag in sorted(set(open_now) & governed):
        if flag not in wanted:
            clear_flag(session=session, actor=actor, evidence=evidence, flag=flag, reason=reason)
        elif wanted[flag].text != open_now[flag]:
            clear_flag(session=session, actor=actor, evidence=evidence, flag=flag, reason="details changed")
    for flag, why in sorted(wanted.items()):
        raise_flag(session=session, actor=actor, evidence=evidence, flag=flag, detail=why.text, now=now,
                   code=why.code, facts=why.facts)
