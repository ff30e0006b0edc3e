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
    withheld_detail: list[dict[str, Any]] = field(default_factory=list)  # metadata/withheld.json's entries
    derivatives: list[dict[str, Any]] = field(default_factory=list)  # the specs of the derived copies delivered
    watermark: list[str] | None = None


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
    parts = []
    for inside in (False, True):
        kinds = "、".join(sorted({d["kind"] for d in derivatives if d.get("in_bundle", False) is inside}))
        if kinds and inside:
            parts.append(f"{kinds}：由原始记录派生，收入本证据包并附制作规格 / derived from the original, in this "
                         "bundle with its spec")
        elif kinds:
            parts.append(f"{kinds}：由原始记录派生，非原始记录，未收入本证据包 / derived from the original, not "
                         "originals, not in this bundle")
    return "; ".join(parts)


KIND_NAMES = {"original": "原件 original", "redacted": "遮蔽版本 redacted version",
              "watermarked": "加水印副本 watermarked copy"}


def _delivered(record: dict[str, Any]) -> str:
    items = record.get("delivered") or []
    return "; ".join(f"{KIND_NAMES.get(d['kind'], d['kind'])}: {d['path']} (SHA-256 {d['sha256']})"
                     for d in items) or "无 none"


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
        ("文件", "File", f"{record['payload_path']} (原文件名 original name: {record['original_name']})"
         if record["payload_path"] else f"原件未收入本证据包 original not in this bundle (原文件名 original name: "
         f"{record['original_name']})"),
        ("本包所含文件", "Files in this bundle", _delivered(record)),
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
        ("SHA-256 摘要" if record["payload_path"] else "原件 SHA-256 摘要",
         "SHA-256 digest" if record["payload_path"] else "Original's SHA-256 (at ingest)", digests["sha256"]),
        ("SHA-512 摘要", "SHA-512 digest", digests["sha512"] or "未计算 not computed"),
        ("SM3 摘要", "SM3 digest", f"{digests['sm3']} ({sm3_source})" if digests["sm3"] else "未计算 not computed"),
        ("派生文件", "Derived files", _derived(record["derivatives"])),
        ("保管记录", "Custody events", f"{record['custody_events']} 条，附默克尔包含证明 with Merkle inclusion proofs"),
    ]
    return Section(f"记录 {number}/{total} — Record {number} of {total}", rows)


def _integrity(data: ExplanationInput) -> Section:
    stamp_zh = "，并由时间戳服务机构加盖可信时间戳（RFC 3161）" if data.timestamped else ""
    stamp_en = ", and the signature is time-stamped by a time-stamping authority (RFC 3161)" if data.timestamped else ""
    derived = [
        "本证据包含派生文件（遮蔽版本或加水印副本），非原始记录：每个派生文件附制作规格 metadata/derivatives/，"
        "载明原件 SHA-256、来源、遮蔽范围与理由或水印文字、制作人、批准人、工具版本及输出 SHA-256；"
        "未收入的原件及其 SHA-256 列于 metadata/withheld.json。其余 data/ 文件为原始记录。",
        "This bundle holds derived files (redacted versions or watermarked copies), which are not originals: each "
        "carries its spec in metadata/derivatives/ naming the original's SHA-256, its source, the hidden ranges and "
        "reasons or the mark's text, editor, approver, tool versions and its own SHA-256; originals not included are "
        "listed with their SHA-256 in metadata/withheld.json. The other files under data/ are originals.",
    ] if data.derivatives else []
    return Section(
        "完整性声明 — Integrity statement",
        paragraphs=[
            *derived,
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


REASON_NAMES = {"others_privacy": "他人隐私 others' privacy", "trade_secret": "商业秘密 trade secret",
                "state_secret": "国家秘密 state secret"}


def _reason(item: dict[str, Any]) -> str:
    return REASON_NAMES.get(item["reason"], f"其他 other: {item.get('reason_text') or '—'}")


def _seconds(start: float, end: float) -> str:
    return f"{start:.2f}–{end:.2f} s"


def _hidden(spec: dict[str, Any]) -> list[str]:
    """Say what a redacted version hides, by time range and reason, never by what is shown there."""
    edit = spec.get("spec") or {}
    lines = []
    if edit.get("clip"):
        lines.append(f"剪辑范围 clip of the original: {_seconds(edit['clip']['start'], edit['clip']['end'])}")
    for region in edit.get("regions", []):
        end = region.get("hold_until") or region["keyframes"][-1]["t"]
        lines.append(f"画面区域 picture region ({region['method']}, {len(region['keyframes'])} 个关键帧 keyframes): "
                     f"{_seconds(region['keyframes'][0]['t'], end)}，理由 reason: {_reason(region)}")
    for sound in edit.get("audio", []):
        lines.append(f"声音 sound ({sound['method']}): {_seconds(sound['start'], sound['end'])}，理由 reason: "
                     f"{_reason(sound)}")
    return lines


def _withheld(data: ExplanationInput) -> Section | None:
    """List each original not provided and why, and what each redacted version hides, without showing it."""
    if not (data.withheld_detail or data.derivatives):
        return None
    rows: list[Row] = [("未提供的原件", "Original not provided", f"{w['evidence_id']} (SHA-256 {w['sha256']}): "
                        f"{w['reason_zh']} / {w['reason_en']}") for w in data.withheld_detail]
    for spec in data.derivatives:
        original = spec["original"]["evidence_id"]
        if spec["kind"] == "watermarked":
            rows.append(("水印", "Watermark", f"{spec['payload_path']} (记录 record {original}): "
                         f"{' / '.join(spec['watermark']['lines'])}"))
            continue
        done = f"制作 made by {spec.get('editor')}，批准 approved by {spec.get('approver') or '—'}"
        hidden = "; ".join(_hidden(spec)) or "—"
        rows.append(("遮蔽版本", "Redacted version", f"记录 record {original}，{done}: {hidden}"))
    return Section("不予提供及遮蔽说明 — What was withheld and why", rows)


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
        header.rows.append(("不予复制的记录", "Records withheld (000 第九条, 003 第二十四条)",
                            f"{len(data.withheld)}: {', '.join(data.withheld)}"))
    if data.watermark:
        header.rows.append(("水印", "Watermark on every video and photo", " / ".join(data.watermark)))
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
    withheld = _withheld(data)
    return [header, *records, *([withheld] if withheld else []), _integrity(data), signature]


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
