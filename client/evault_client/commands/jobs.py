"""`evault jobs [NAME]`: the scheduled jobs' state, last and next runs (admins and auditors), from GET /api/jobs."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import click

from evault_client.cli import VaultCommand
from evault_client.context import Invocation, current
from evault_client.output import Column


def _state(run: Invocation, job: dict[str, Any]) -> str:
    names = {"ok": ("正常", "ok"), "running": ("运行中", "running"), "failed": ("失败", "FAILED"),
             "overdue": ("逾期未运行", "OVERDUE"), "never": ("从未运行", "never run")}
    zh, en = names.get(job["state"], (job["state"], job["state"]))
    return run.text(zh, en)


def _last(job: dict[str, Any], key: str) -> Any:
    return (job.get("last_run") or {}).get(key)


def _job_columns(run: Invocation) -> list[Column]:
    # Four columns fit 80: the run's duration and failures in a row are in `evault jobs NAME` and `--json`.
    return [Column(run.text("任务", "JOB"), "name", whole=True),
            Column(run.text("状态", "STATE"), lambda job: _state(run, job), whole=True),
            Column(run.text("上次开始", "LAST START"), lambda job: _last(job, "started_at"), time=True, whole=True),
            Column(run.text("下次运行", "NEXT DUE"), "next_due", time=True, whole=True)]


def _run_columns(run: Invocation) -> list[Column]:
    return [Column(run.text("开始", "STARTED"), "started_at", time=True, whole=True),
            Column(run.text("耗时(秒)", "SECONDS"), "duration_seconds"), Column(run.text("结果", "OUTCOME"), "outcome"),
            Column(run.text("执行者", "WORKER"), "worker"),
            Column(run.text("摘要", "SUMMARY"), lambda r: json.dumps(r["summary"], ensure_ascii=False, sort_keys=True))]


@click.command("jobs", cls=VaultCommand)
@click.argument("name", required=False)
@click.option("--recent", type=click.IntRange(1, 100), default=10, show_default=True,
              help="How many of the newest runs to show for one job.")
def jobs(name: str | None, recent: int) -> None:
    """List the scheduled jobs with their state and next run; with NAME, one job's newest runs (admin, auditor)."""
    run = current()
    if name is None:
        run.out.rows(run.api.get("/api/jobs", recent=1), _job_columns(run))
        return
    job = run.api.get(f"/api/jobs/{quote(name, safe='')}", recent=recent)
    if run.json_mode:
        run.out.document(job)
        return
    run.out.message(run.text(
        f"状态：{_state(run, job)}；连续失败 {job['failures_in_a_row']} 次",
        f"state: {_state(run, job)}; {job['failures_in_a_row']} failure(s) in a row"))
    run.out.message(run.text(f"计划：{job['schedule']}（{job['timezone']}）", f"schedule: {job['schedule']} "
                             f"({job['timezone']})"))
    run.out.rows(job["recent_runs"], _run_columns(run), empty=run.text("尚无运行记录", "no run recorded yet"))
