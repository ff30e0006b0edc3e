"""The statistics page, its CSV and XLSX downloads (issue 14, "Statistics for annual reports (`004`)")."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from evault.statistics import labels
from evault.statistics.render import translator
from tests.evault.test_statistics import UNIT_A, UNIT_B, expected_tables, seed_vault
from tests.web.conftest import LiveVault, WebPerson, sign_in
from vault.context import VaultContext
from vault.db import utcnow
from vault.identities.models import Role

YEAR_2025 = "period=year&year=2025"
Tables = dict[str, dict[str, tuple[Any, ...]]]


@pytest.fixture
def seeded(context: VaultContext, person: Callable[..., WebPerson]) -> None:
    """Seed the vault the service tests use."""
    seed_vault(context, person(Role.OFFICER).person, person(Role.REVIEWER).person, utcnow())


def translated(tables: Tables, language: str = "zh_CN") -> Tables:
    """Return expected tables with their labels as a person of that language reads them."""
    translate = translator(language)
    return {key: {(label if re.match(r"^\d{4}-\d\d$|.*\(\d+\)$", label) else translate(label)): values
                  for label, values in rows.items()} for key, rows in tables.items()}


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def page_tables(text: str) -> Tables:
    """Read every statistics table of the page: data-label (a message id or a name) to its cells' values."""
    found: Tables = {}
    for key, body in re.findall(r'data-testid="table-([a-z_]+)">(.*?)</table>', text, re.S):
        rows = re.findall(r'<tr data-label="([^"]*)">(.*?)</tr>', body, re.S)
        found[key] = {html.unescape(label): tuple(_number(html.unescape(v)) for v in re.findall(
            r'data-value="([^"]*)"', cells)) for label, cells in rows}
    return found


def non_zero(tables: Tables) -> Tables:
    """Keep the rows that count something (the summary whole)."""
    return {key: {label: values for label, values in rows.items()
                  if key == "summary" or any(v for v in values if not isinstance(v, str))}
            for key, rows in tables.items()}


def workbook_tables(content: bytes) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Read each sheet's table: the row under the header row whose first cell matches, to its other cells."""
    book = load_workbook(io.BytesIO(content))
    found = {}
    for sheet in book.worksheets:
        rows = [tuple(c for c in row) for row in sheet.iter_rows(values_only=True)]
        start = next(i for i, row in enumerate(rows) if row and row[0] and row[0] in {"统计项", "Measure"}) + 1 \
            if sheet.title in {"总体情况", "Summary"} else 1
        found[sheet.title] = {str(row[0]): tuple(v for v in row[1:] if v is not None) for row in rows[start:] if row[0]}
    return found


def sign_in_as(client: TestClient, person: Callable[..., WebPerson], role: Role) -> None:
    """Sign a new person of the role in."""
    who = person(role)
    assert sign_in(client, who.name, who.password) == 303


def test_the_page_shows_the_seeded_counts(client: TestClient, person: Callable[..., WebPerson],
                                          seeded: None) -> None:
    sign_in_as(client, person, Role.AUDITOR)
    page = client.get(f"/statistics?{YEAR_2025}")
    assert page.status_code == 200
    assert non_zero(page_tables(page.text)) == expected_tables("2025-01-01", "2025-12-31")
    assert "年度报告统计" in page.text and "执法一大队" in page.text
    assert page.text.count("<canvas data-chart=") == 3
    assert "张伟 (13010001)" in page.text  # handlers are named; parties and their ID numbers never are
    assert "当事人申请复制" in page.text


def test_a_quarter_of_one_unit(client: TestClient, person: Callable[..., WebPerson], seeded: None) -> None:
    sign_in_as(client, person, Role.RECORDS_MANAGER)
    page = client.get(f"/statistics?period=quarter&year=2025&quarter=2&unit={UNIT_B}")
    assert non_zero(page_tables(page.text)) == expected_tables("2025-04-01", "2025-06-30", UNIT_B)
    assert f'<option value="{UNIT_B}" selected>' in page.text


def test_the_xlsx_and_csv_hold_the_pages_numbers(client: TestClient, person: Callable[..., WebPerson],
                                                 seeded: None) -> None:
    sign_in_as(client, person, Role.AUDITOR)
    want = translated(expected_tables("2025-01-01", "2025-12-31", UNIT_A))
    answer = client.get(f"/statistics.xlsx?{YEAR_2025}&unit={UNIT_A}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/vnd.openxml")
    sheets = workbook_tables(answer.content)
    translate = translator("zh_CN")
    for key, rows in want.items():
        sheet = sheets[translate(labels.TITLES[key])[:31]]
        kept = {label: values for label, values in sheet.items()
                if key == "summary" or any(v for v in values if not isinstance(v, str))}
        assert kept == rows, key
    csv_answer = client.get(f"/statistics.csv?{YEAR_2025}&unit={UNIT_A}")
    assert csv_answer.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel opens the Chinese right
    lines = list(csv.reader(io.StringIO(csv_answer.content.decode("utf-8-sig"))))
    assert lines[0] == ["年度报告统计"] and lines[2] == ["执法单位", UNIT_A]
    summary = {line[0]: _number(line[1]) for line in lines if len(line) == 2}
    for label, (value,) in want["summary"].items():
        assert summary[label] == value


def test_english_downloads_speak_english(client: TestClient, person: Callable[..., WebPerson],
                                         seeded: None) -> None:
    sign_in_as(client, person, Role.AUDITOR)
    client.get("/language/en?next=/statistics")
    lines = list(csv.reader(io.StringIO(client.get(f"/statistics.csv?{YEAR_2025}").content.decode("utf-8-sig"))))
    assert lines[0] == ["Statistics for annual reports"]
    assert ["Records", "12"] in lines and ["Recording gaps (total seconds)", "600.0"] in lines


def test_a_bad_period_is_explained_on_the_page(client: TestClient, person: Callable[..., WebPerson]) -> None:
    sign_in_as(client, person, Role.AUDITOR)
    page = client.get("/statistics?period=month&year=2025&month=13")
    assert page.status_code == 422 and "月份应为 1 至 12" in page.text
    default = client.get("/statistics")
    this_year = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).year
    assert default.status_code == 200 and f"{this_year}-01-01" in default.text  # the agency's year by default
    assert client.get("/statistics?unit=%00").status_code == 422


def test_the_api_answers_the_same_numbers(client: TestClient, person: Callable[..., WebPerson],
                                          seeded: None) -> None:
    auditor = person(Role.AUDITOR)
    answer = client.get("/api/statistics", params={"period": "quarter", "year": 2025, "number": 3},
                        headers=auditor.headers)
    assert answer.status_code == 200
    tables = {t["key"]: {r["label"]: tuple(r["values"]) for r in t["rows"]} for t in answer.json()["tables"]}
    assert non_zero(tables) == expected_tables("2025-07-01", "2025-09-30")
    assert client.get("/api/statistics", headers=person(Role.OFFICER).headers).status_code == 403


@pytest.mark.parametrize("role", [Role.OFFICER, Role.REVIEWER, Role.APPROVER, Role.ADMIN])
def test_other_roles_are_refused(client: TestClient, person: Callable[..., WebPerson], role: Role) -> None:
    sign_in_as(client, person, role)
    for path in ("/statistics", "/statistics.csv", "/statistics.xlsx"):
        answer = client.get(f"{path}?{YEAR_2025}")
        assert answer.status_code == 403, path
        assert "统计仅限档案管理人员和监督人员查看" in answer.text


def test_the_charts_draw_under_the_csp_and_the_download_matches(
    browser: Browser, live_vault: LiveVault, person: Callable[..., WebPerson],
    signed_in: Callable[[Browser, WebPerson], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    seed_vault(live_vault.context, person(Role.OFFICER).person, person(Role.REVIEWER).person, utcnow())
    page = signed_in(browser, person(Role.RECORDS_MANAGER, display_name="档案员"))
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto("/statistics")
    expect(page.locator("[data-period-field=quarter]")).to_be_hidden()  # a year needs no quarter or month
    page.select_option("select[name=period]", "quarter")
    expect(page.locator("[data-period-field=quarter]")).to_be_visible()
    expect(page.locator("[data-period-field=month]")).to_be_hidden()
    page.select_option("select[name=period]", "year")
    page.fill("input[name=year]", "2025")
    page.click("[data-testid=statistics-form] button[type=submit]")
    page.wait_for_url(re.compile(r".*year=2025.*"))
    page.wait_for_function("document.querySelectorAll('canvas[data-chart]').length === 3 && "
                           "[...document.querySelectorAll('canvas[data-chart]')].every(c => Chart.getChart(c))")
    kinds = page.evaluate("[...document.querySelectorAll('canvas[data-chart]')]"
                          ".map(c => Chart.getChart(c).config.type)")
    assert kinds == ["bar", "doughnut", "bar"]
    screenshot(page, "statistics")
    with page.expect_download() as download:
        page.get_by_test_id("download-xlsx").click()
    content = Path(download.value.path()).read_bytes()
    summary = workbook_tables(content)["总体情况"]
    want = translated(expected_tables("2025-01-01", "2025-12-31"))["summary"]
    assert summary == want
    assert not problems, problems
