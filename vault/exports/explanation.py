"""The explanation sheet (制作说明) attached to a bundle, in Chinese and English, as plain text and HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

Row = tuple[str, str, str]  # (Chinese label, English label, value)


@dataclass(frozen=True)
class Section:
    """A titled block of labelled rows and free paragraphs."""

    title: str
    rows: list[Row] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExplanationInput:
    """Everything the sheet states, already formatted for display in the agency's time zone."""

    agency: str
    case_number: str
    case_title: str
    purpose_zh: str
    purpose_en: str
    recipient: str
    export_id: str
    made_at: str
    made_by: str
    approval: str
    records: list[dict[str, Any]]
    withheld: list[str]
    key_id: str
    checkpoint_size: int
    timestamped: bool


def _yes_no(value: object) -> str:
    if value is None:
        return "未记录 not recorded"
    return "是 yes" if value else "否 no"


def _handlers(record: dict[str, Any]) -> str:
    people = [
        f"{h['name']}（执法证号 certificate {h['certificate_number']}，拍摄时有效 valid at capture: "
        f"{_yes_no(h['certificate_valid_at_capture'])}）"
        for h in record["handlers"]
    ]
    return "; ".join(people) or "未记录 not recorded"


def _place(place: dict[str, Any] | None) -> str:
    """Say where the record was made and how that is known (GPS from the media, or declared by the officer)."""
    if place is None:
        return "未记录 not recorded"
    declared = place["declared"]
    if place["gps"] is None:
        return f"{declared}（来源：申报 source: declared by the officer）"
    lat, lon = place["gps"]["lat"], place["gps"]["lon"]
    where = (f"{'北纬' if lat >= 0 else '南纬'} {abs(lat):.6f}°，{'东经' if lon >= 0 else '西经'} {abs(lon):.6f}° "
             f"(lat {lat:.6f}, lon {lon:.6f})")
    origin = "照片 EXIF photo EXIF" if place["source"] == "gps_exif" else "录像元数据 recording metadata"
    also = f"；申报地点 declared: {declared}" if declared else ""
    return f"{where}（来源：GPS，{origin} source: GPS）{also}"


def _derived(derivatives: list[dict[str, Any]]) -> str:
    if not derivatives:
        return "无 none"
    kinds = "、".join(sorted({d["kind"] for d in derivatives}))
    return (f"{kinds}：由原始记录派生，非原始记录，未收入本证据包 / derived from the original, not originals, "
            "not in this bundle")


def _record_section(number: int, total: int, record: dict[str, Any]) -> Section:
    capture, transfer, digests = record["capture"], record["transfer"], record["digests"]
    flags = ", ".join(f["flag"] for f in record["flags"] if f["cleared_at"] is None) or "无 none"
    stored = (
        f"由 {transfer['uploaded_by']} 于 {transfer['uploaded_at']} 上传至证据库，一次写入保存于 "
        f"{transfer['storage_backend']} 存储，保存至 {transfer['store_retain_until']} / uploaded by "
        f"{transfer['uploaded_by']} at {transfer['uploaded_at']}, stored write-once ({transfer['storage_backend']} "
        f"store) and locked until {transfer['store_retain_until']}"
    )
    sm3_source = "入库时计算 recorded at ingest" if digests["sm3_source"] == "ingest" else "制作时计算 computed now"
    rows: list[Row] = [
        ("文件", "File", f"{record['payload_path']} (原文件名 original name: {record['original_name']})"),
        ("记录编号", "Record ID", record["evidence_id"]),
        ("来源执法记录仪", "Source recorder", capture["recorder_serial"] or "未记录 not recorded"),
        ("拍摄时间", "Capture time", f"{capture['start'] or '?'} — {capture['end'] or '?'}"),
        ("拍摄地点", "Place", _place(capture["place"])),
        ("拍摄人员", "Recorded by", _handlers(record)),
        ("执法活动", "Enforcement activity", record["tags"]["activity"] or "未记录 not recorded"),
        (
            "已告知当事人开始记录",
            "Party told recording started",
            _yes_no(record["tags"]["party_informed_of_recording"]),
        ),
        ("移交与保存", "Transfer and storage", stored),
        ("标记", "Open flags", flags),
        ("大小", "Size", f"{record['size']} bytes"),
        ("SHA-256 摘要", "SHA-256 digest", digests["sha256"]),
        ("SHA-512 摘要", "SHA-512 digest", digests["sha512"]),
        ("SM3 摘要", "SM3 digest", f"{digests['sm3']} ({sm3_source})" if digests["sm3"] else "未计算 not computed"),
        ("派生文件", "Derived files", _derived(record["derivatives"])),
        ("保管记录", "Custody events", f"{record['custody_events']} 条，附默克尔包含证明 with Merkle inclusion proofs"),
    ]
    return Section(f"记录 {number}/{total} — Record {number} of {total}", rows)


def _integrity(data: ExplanationInput) -> Section:
    stamp_zh = "，并由时间戳服务机构加盖可信时间戳（RFC 3161）" if data.timestamped else ""
    stamp_en = ", and the signature is time-stamped by a time-stamping authority (RFC 3161)" if data.timestamped else ""
    return Section(
        "完整性声明 — Integrity statement",
        paragraphs=[
            "本证据包 data/ 目录中的每个文件均为本单位保存的原始音像记录，逐位一致，未经剪辑、转码或修改。"
            "制作时重新计算了每个文件的 SHA-256 摘要，与入库时记录的摘要一致。清单文件由证据库 Ed25519 密钥签名"
            f"（密钥标识 {data.key_id}）{stamp_zh}。保管记录附默克尔包含证明，对应已签名的检查点"
            f"（日志长度 {data.checkpoint_size}）。",
            "Every file under data/ is the original audio-visual record kept by the agency, bit for bit: not cut, "
            "re-encoded or altered. While this bundle was made each file's SHA-256 was recomputed and matched the "
            f"digest recorded at ingest. The manifests are signed with the vault's Ed25519 key (key id {data.key_id})"
            f"{stamp_en}. The custody events carry Merkle inclusion proofs against a signed checkpoint (log size "
            f"{data.checkpoint_size}).",
            "核验方法：解压本证据包顶层的 verify_bundle.py，在装有 Python 3.11 及以上版本和 cryptography 的"
            "计算机上运行 python verify_bundle.py 证据包.zip（加 --sm3 同时核验 SM3 摘要）；"
            "全部核验通过时显示 VERDICT: VALID，退出码为 0。"
            "也可使用标准工具（BagIt 校验器、sha256sum、openssl）核验。",
            "How to check it: take verify_bundle.py from the top folder of this bundle and run "
            "`python verify_bundle.py BUNDLE.zip` (add --sm3 to check the SM3 digests too) on any computer with "
            "Python 3.11+ and `cryptography`; it prints VERDICT: VALID and exits 0 when every check holds. It is "
            "listed in the signed manifests, so an altered copy fails the check. Standard tools (a BagIt validator, "
            "sha256sum, openssl) check it too, as the agency's export documentation describes.",
        ],
    )


def build_sections(data: ExplanationInput) -> list[Section]:
    """Return the sheet's sections in reading order."""
    header = Section(
        "基本信息 — Particulars",
        [
            ("制作单位", "Agency", data.agency),
            ("案号", "Case number", data.case_number),
            ("案件", "Case", data.case_title or "—"),
            ("用途", "Purpose", f"{data.purpose_zh} / {data.purpose_en}"),
            ("接收方", "Recipient", data.recipient),
            ("证据包编号", "Export ID", data.export_id),
            ("制作时间", "Made at", data.made_at),
            ("制作人", "Made by", data.made_by),
            ("批准", "Approval", data.approval),
            ("记录数量", "Records", str(len(data.records))),
        ],
    )
    if data.withheld:
        header.rows.append(("不予复制的涉密记录", "Confidential records withheld (000 第九条)",
                            f"{len(data.withheld)}: {', '.join(data.withheld)}"))
    total = len(data.records)
    records = [_record_section(i, total, record) for i, record in enumerate(data.records, start=1)]
    signature = Section(
        "签名 — Signature",
        [
            ("制作人（签名）", "Made by (signature)", "______________________  日期 Date: ____________"),
            ("审核人（签名）", "Checked by (signature)", "______________________  日期 Date: ____________"),
            ("单位（盖章）", "Agency seal", "______________________"),
            (
                "电子签名",
                "Electronic signature",
                f"Ed25519, key id {data.key_id}: signature/tagmanifest-sha256.txt.sig",
            ),
        ],
    )
    return [header, *records, _integrity(data), signature]


TITLE = "执法音像记录制作说明 — Explanation of the audio-visual records provided (制作说明附卷)"


def render_text(data: ExplanationInput) -> str:
    """Return the sheet as UTF-8 plain text."""
    lines = [TITLE, "=" * 60, ""]
    for section in build_sections(data):
        lines += [section.title, "-" * 40]
        lines += [f"{zh} {en}: {value}" for zh, en, value in section.rows]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        lines.append("")
    return "\n".join(lines)


def render_html(data: ExplanationInput) -> str:
    """Return the sheet as a standalone HTML page (no scripts, no external resources)."""
    esc = html.escape
    parts = [
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{esc(TITLE)}</title>",
        "<style>body{font-family:serif;max-width:60em;margin:2em auto}th{text-align:left;vertical-align:top;"
        "width:16em}td,th{border-bottom:1px solid #ccc;padding:.3em;word-break:break-all}</style></head><body>",
        f"<h1>{esc(TITLE)}</h1>",
    ]
    for section in build_sections(data):
        parts.append(f"<h2>{esc(section.title)}</h2>")
        if section.rows:
            parts.append("<table>")
            parts += [
                f"<tr><th>{esc(zh)}<br>{esc(en)}</th><td>{esc(value)}</td></tr>" for zh, en, value in section.rows
            ]
            parts.append("</table>")
        parts += [f"<p>{esc(p)}</p>" for p in section.paragraphs]
    parts.append("</body></html>\n")
    return "\n".join(parts)
