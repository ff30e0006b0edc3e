"""What an officer reads after an upload: a table that fits the terminal, then why files failed or were flagged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from evault_client.exits import Exit
from evault_client.output import Output, display_width
from evault_client.upload.runner import FileOutcome

Translate = Callable[[str, str], str]


def outcome_document(outcome: FileOutcome) -> dict[str, Any]:
    """Return one file's outcome as printed with --json."""
    return {"file": str(outcome.path), "size": outcome.size, "sha256": outcome.sha256,
            "evidence_id": outcome.evidence_id, "duplicate": outcome.duplicate, "flags": outcome.flags,
            "flag_reasons": outcome.flag_reasons, "receipt": str(outcome.receipt) if outcome.receipt else None,
            "resumed_from": outcome.resumed_from, "already_receipted": outcome.already_receipted,
            "error": outcome.error, "exit": int(file_exit(outcome))}


def file_exit(outcome: FileOutcome) -> Exit:
    """Return what one file's outcome means for the exit status."""
    if outcome.error is None:
        return Exit.OK
    if outcome.refused:
        return Exit.INVALID_INPUT
    if outcome.retry_later:
        return Exit.TEMPORARY_FAILURE
    return Exit.CHECK_FAILED


def batch_exit(outcomes: list[FileOutcome]) -> Exit:
    """Return the run's exit status: 1 if any file failed otherwise (a receipt that does not verify, an unreadable
    file), else 6 if the vault refused a file, else 75 if the vault stayed away; 0 when every file is receipted."""
    found = {file_exit(outcome) for outcome in outcomes}
    for status in (Exit.CHECK_FAILED, Exit.INVALID_INPUT, Exit.TEMPORARY_FAILURE):
        if status in found:
            return status
    return Exit.OK


def _result(outcome: FileOutcome, text: Translate) -> str:
    if outcome.error:
        return text("失败", "FAILED") + (f" ({outcome.refused_status})" if outcome.refused_status else "")
    if outcome.already_receipted:
        return text("已有收据", "already receipted")
    note = text("收据正常", "receipt OK")
    if outcome.resumed_from:
        note += text(f"，自 {outcome.resumed_from} B 续传", f", resumed at {outcome.resumed_from} B")
    return note


def wrap_cells(text: str, width: int, indent: str = "    ") -> Iterator[str]:
    """Wrap a line to width terminal cells (CJK characters take two), breaking at a space where one is near."""
    line = ""
    for ch in text:
        if display_width(line + ch) > width:
            cut = line.rfind(" ")
            if cut > len(indent) + width // 3:
                yield line[:cut].rstrip()
                line = indent + line[cut + 1:]
            else:
                yield line
                line = indent
        line += ch
    if line.strip():
        yield line


def print_summary(outcomes: list[FileOutcome], out: Output, text: Translate) -> None:
    """Print the outcomes: JSON lines, or a table within the terminal's width and the reasons below it."""
    if out.json_mode:
        out.lines(outcome_document(outcome) for outcome in outcomes)
        return
    headers = [text("文件", "file"), text("证据编号", "evidence id"), text("重复", "duplicate?"),
               text("标记", "flags"), text("结果", "result")]
    rows = []
    for o in outcomes:
        flags = "?" if o.flags is None and o.error is None else ",".join(o.flags or []) or "-"
        rows.append([str(o.path), o.evidence_id or "-", text("是", "yes") if o.duplicate else text("否", "no"),
                     flags, _result(o, text)])
    lines = out.table(headers, rows)
    failures = [(o.path.name, o.error) for o in outcomes if o.error]
    if failures:
        lines.append(text("失败原因 (why files failed):", "why files failed (失败原因):"))
        lines += [part for name, error in failures for part in wrap_cells(f"  {name}  {error}", out.width)]
    reasons = [(o.path.name, flag, why) for o in outcomes for flag, why in o.flag_reasons.items() if why]
    if reasons:
        lines.append(text("标记原因 (why each flag was raised):", "why each flag was raised (标记原因):"))
        lines += [part for name, flag, why in reasons for part in wrap_cells(f"  {name}  {flag}: {why}", out.width)]
    for line in lines:
        out.message(line)
