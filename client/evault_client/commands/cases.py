"""`evault cases|parties ...`: cases (案件) by their case numbers (案号), and the parties (当事人) on them."""

from __future__ import annotations

from typing import Any

import click

from evault_client.cli import VaultGroup
from evault_client.commands import segment
from evault_client.context import current
from evault_client.output import Column, clip, local_time

CASE_TYPES = ["routine_inspection", "simple_procedure", "general_procedure_penalty", "administrative_coercion",
              "licensing", "complaint_verification"]
STATUSES = ["open", "closed", "archived"]


def find_case(case_number: str) -> dict[str, Any]:
    """Return the case with this case number (any bracket variant); the vault answers 404 for none."""
    found: list[dict[str, Any]] = current().api.get("/api/cases", case_number=case_number)
    return found[0]


@click.group(cls=VaultGroup)
def cases() -> None:
    """Cases (案件): add, list, show, close, archive or reopen."""


@cases.command("add")
@click.argument("case_number")
@click.option("--type", "case_type", required=True, type=click.Choice(CASE_TYPES))
@click.option("--title", default="")
def cases_add(case_number: str, case_type: str, title: str) -> None:
    """Add a case by its case number (案号); [] () 【】 around the year are stored as 〔〕."""
    run = current()
    case = run.api.post("/api/cases", {"case_number": case_number, "case_type": case_type, "title": title})
    run.out.document(case, run.text(f"已创建案件 {case['case_number']}", f"case {case['case_number']} created"))


@cases.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only cases with this status.")
def cases_list(status: str | None) -> None:
    """List cases, newest first (`cases show` has the title; --json everything)."""
    run = current()
    run.out.rows(run.api.get("/api/cases", status=status), [
        Column(run.text("案号", "CASE NUMBER"), "case_number"), Column(run.text("类型", "TYPE"), "case_type"),
        Column(run.text("状态", "STATUS"), "status"),
        Column(run.text("立案日期", "OPENED"), lambda c: local_time(c["opened_at"], run.zone)[:10])])


@cases.command("show")
@click.argument("case_number")
def cases_show(case_number: str) -> None:
    """Show a case and its parties."""
    run = current()
    case = find_case(case_number)

    def human() -> None:
        for label, value in ((run.text("案号", "case number"), case["case_number"]),
                             (run.text("类型", "type"), case["case_type"]), (run.text("案由", "title"), case["title"]),
                             (run.text("状态", "status"), case["status"]),
                             (run.text("立案", "opened"), local_time(case["opened_at"], run.zone)),
                             (run.text("结案", "closed"), local_time(case["closed_at"], run.zone)),
                             (run.text("归档", "archived"), local_time(case["archived_at"], run.zone))):
            click.echo(f"{label}: {value or '-'}")
        run.out.rows(case["parties"], [Column(run.text("当事人", "PARTY"), "name"),
                                       Column(run.text("类别", "KIND"), "kind"), Column("ID", "id")])

    run.out.document(case, human)


@cases.command("status")
@click.argument("case_number")
@click.argument("status", type=click.Choice(STATUSES))
def cases_status(case_number: str, status: str) -> None:
    """Close (closed), archive (archived) or reopen (open) a case."""
    run = current()
    case = run.api.post(f"/api/cases/{find_case(case_number)['id']}/status", {"status": status})
    run.out.document(case, run.text(f"案件 {case['case_number']} 现为 {status}",
                                    f"case {case['case_number']} is now {status}"))


@click.group(cls=VaultGroup)
def parties() -> None:
    """Parties (当事人): personal data is stored encrypted and shown masked."""


def _party_columns(run: Any) -> list[Column]:
    # The id stays whole (other commands take it), so the name is cut first; `parties show` has the rest.
    return [Column("ID", "id"), Column(run.text("当事人", "NAME"), lambda p: clip(p["name"], 20)),
            Column(run.text("证件号码", "ID NUMBER"), "id_number")]


@parties.command("list")
@click.option("--name", default=None, help="Any part of the party's name.")
@click.option("--case", "case_number", default=None, help="Parties on this case (案号).")
def parties_list(name: str | None, case_number: str | None) -> None:
    """List parties by name or case, personal data masked."""
    run = current()
    run.out.rows(run.api.get("/api/parties", name=name, case_number=case_number), _party_columns(run))


def _show_party(party: dict[str, Any]) -> None:
    run = current()
    for label, key in ((run.text("当事人", "name"), "name"), (run.text("类别", "kind"), "kind"),
                       (run.text("法定代表人", "legal representative"), "legal_representative"),
                       (run.text("证件号码", "id number"), "id_number"), (run.text("电话", "phone"), "phone"),
                       (run.text("地址", "address"), "address"),
                       (run.text("银行账户", "bank account"), "bank_account")):
        click.echo(f"{label}: {party[key] or '-'}")
    click.echo(f"{run.text('案件', 'cases')}: {', '.join(party['cases']) or '-'}")
    click.echo(f"ID: {party['id']}")


@parties.command("show")
@click.argument("party_id")
@click.option("--reveal", is_flag=True, help="Show personal data unmasked (records managers; the vault logs it).")
def parties_show(party_id: str, reveal: bool) -> None:
    """Show a party and its cases; personal data masked unless --reveal."""
    run = current()
    party = run.api.get(f"/api/parties/{segment(party_id)}", reveal="true" if reveal else None)
    run.out.document(party, lambda: _show_party(party))


@parties.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(["person", "organisation"]), default="person", show_default=True)
@click.option("--legal-representative", default="")
@click.option("--id-number", default=None, help="Stored encrypted, shown masked.")
@click.option("--phone", default=None, help="Stored encrypted, shown masked.")
@click.option("--address", default=None, help="Stored encrypted, shown masked.")
@click.option("--case", "case_number", default=None, help="Case number (案号) to link the party to.")
def parties_add(name: str, kind: str, legal_representative: str, id_number: str | None, phone: str | None,
                address: str | None, case_number: str | None) -> None:
    """Add a party, optionally linked to a case."""
    run = current()
    party = run.api.post("/api/parties", {
        "name": name, "kind": kind, "legal_representative": legal_representative, "id_number": id_number,
        "phone": phone, "address": address, "case_number": case_number})
    run.out.document(party, run.text(f"已创建当事人 {party['name']}（{party['id']}）",
                                     f"party {party['name']} created ({party['id']})"))


@parties.command("update")
@click.argument("party_id")
@click.option("--name", default=None)
@click.option("--kind", type=click.Choice(["person", "organisation"]), default=None)
@click.option("--legal-representative", default=None)
@click.option("--id-number", default=None, help='Stored encrypted; "" clears it.')
@click.option("--phone", default=None, help='Stored encrypted; "" clears it.')
@click.option("--address", default=None, help='Stored encrypted; "" clears it.')
def parties_update(party_id: str, **fields: str | None) -> None:
    """Change a party's name, kind, legal representative, ID number, phone or address (logged)."""
    run = current()
    body = {key: value for key, value in fields.items() if value is not None}
    party = run.api.patch(f"/api/parties/{segment(party_id)}", body)
    run.out.document(party, run.text(f"已更新当事人 {party['name']}（{party['id']}）",
                                     f"party {party['name']} updated ({party['id']})"))


@parties.command("link")
@click.argument("party_id")
@click.option("--case", "case_number", required=True, help="Case number (案号) to link the party to.")
def parties_link(party_id: str, case_number: str) -> None:
    """Link a party to one more case; a party may be on several."""
    run = current()
    party = run.api.post(f"/api/parties/{segment(party_id)}/cases", {"case_number": case_number})
    run.out.document(party, run.text(f"当事人 {party['name']} 已关联案件：{'、'.join(party['cases'])}",
                                     f"party {party['name']} is on: {', '.join(party['cases'])}"))
