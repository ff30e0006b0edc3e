"""`evault upload` and `evault dock`: what an officer runs at the end of a shift."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ingest.client.config import load_client_settings
from ingest.client.dock import Dock, FolderReport
from ingest.client.errors import ClientError
from ingest.client.files import expand_paths
from ingest.client.progress import RichProgress, SilentProgress
from ingest.client.runner import ClientOptions, FileOutcome, IngestClient
from ingest.client.tags import ACTIVITIES, CONFIDENTIALITY, Tags, check_tags, parse_time
from vault.logging import configure_logging

F = TypeVar("F", bound=Callable[..., Any])
EXIT_FAILED = 1
EXIT_USAGE = 2
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def tag_options(*, handler_required: bool) -> Callable[[F], F]:
    """Add the tagging and connection options shared by `upload` and `dock`."""
    options = [
        click.option("--server", default=None, help="Vault URL (default: $EVAULT_SERVER). Token: $EVAULT_TOKEN."),
        click.option("--case", "case_number", default=None, help="Case number (案号), e.g. 阜应急罚字〔2023〕40号."),
        click.option("--party", default=None, help="Party name (当事人姓名或者名称)."),
        click.option("--handler", "handlers", multiple=True, required=handler_required,
                     help="Handler certificate number (执法证号); repeat for each officer."),
        click.option("--activity", type=click.Choice(ACTIVITIES), default=None, help="Enforcement activity."),
        click.option("--recorder", "recorder_serial", default=None, help="Recorder serial (执法记录仪编号)."),
        click.option("--party-informed/--party-not-informed", default=None,
                     help="Whether the party was told that recording started."),
        click.option("--field-return-at", default=None, help="ISO time you returned from field work (24 h rule)."),
        click.option("--late-reason", default=None, help="Why the footage is handed over late."),
        click.option("--notes", default=None, help="Free text."),
        click.option("--place", default=None, help="Where it was recorded (拍摄地点), for media without GPS."),
        click.option("--confidentiality", type=click.Choice(CONFIDENTIALITY), default=None,
                     help="Confidentiality (国家秘密/商业秘密/个人隐私)."),
        click.option("--jobs", default=4, show_default=True, type=click.IntRange(1, 16), help="Parallel uploads."),
        click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Where resumable upload URLs and the pinned vault key live (default ~/.cache/evault)."),
        click.option("--chunk-size", default=16, show_default=True, type=click.IntRange(1, 1024),
                     help="tus PATCH size in MiB (memory per parallel upload)."),
        click.option("--retries", default=8, show_default=True, type=click.IntRange(0, 100),
                     help="Retries with backoff after a dropped link or a temporary server failure."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _tags(fields: dict[str, Any]) -> Tags:
    returned = fields.pop("field_return_at")
    return check_tags(Tags(
        case_number=fields.pop("case_number"), party=fields.pop("party"), handlers=tuple(fields.pop("handlers")),
        activity=fields.pop("activity"), recorder_serial=fields.pop("recorder_serial"),
        party_informed=fields.pop("party_informed"),
        field_return_at=parse_time(returned, name="--field-return-at") if returned else None,
        late_reason=fields.pop("late_reason"), notes=fields.pop("notes"), confidentiality=fields.pop("confidentiality"),
        place=fields.pop("place"),
    ))


def _options(fields: dict[str, Any]) -> ClientOptions:
    settings = load_client_settings()
    server = fields.pop("server") or settings.server
    if not server:
        raise ClientError("no vault given: pass --server URL or set EVAULT_SERVER")
    url = urlsplit(server)
    if url.scheme not in {"http", "https"} or not url.hostname:
        raise ClientError(f"--server must be an http(s) URL such as https://vault.example.gov.cn, not {server!r}")
    if url.scheme == "http" and url.hostname not in LOOPBACK:
        click.echo(f"warning: {server} is plain HTTP; your token and footage cross the network unencrypted", err=True)
    if settings.token is None or not settings.token.get_secret_value():
        raise ClientError("EVAULT_TOKEN is not set: export your API token (from `evault tokens create`)")
    return ClientOptions(
        server=server, token=settings.token.get_secret_value(),
        state_dir=fields.pop("state_dir") or settings.state_dir, jobs=fields.pop("jobs"),
        chunk_size=fields.pop("chunk_size") * 1024 * 1024, retries=fields.pop("retries"),
    )


@contextmanager
def _connected(fields: dict[str, Any]) -> Iterator[tuple[IngestClient, Tags, bool]]:
    """Parse options, check the token and pin the vault key; exit 2 with one clear line on any problem."""
    configure_logging(json_output=False, level="WARNING")
    quiet = bool(fields.pop("quiet"))
    try:
        tags = _tags(fields)
        client = IngestClient(_options(fields))
    except ClientError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        click.echo(f"error: cannot use the state dir: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        yield client, tags, quiet
    finally:
        client.close()


@contextmanager
def _progress(client: IngestClient, files: list[Path], quiet: bool) -> Iterator[None]:
    if quiet:
        client.progress = SilentProgress()
        yield
        return
    total = 0
    for path in files:
        with suppress(OSError):  # a vanished file is reported by its upload, not here
            total += path.stat().st_size
    with RichProgress(total_bytes=total) as sink:
        client.progress = sink
        yield


def _summary(outcomes: list[FileOutcome], console: Console) -> None:
    table = Table(title="Evidence Vault ingest")
    table.add_column("file", overflow="fold")
    table.add_column("evidence id", no_wrap=True, min_width=36)
    for column in ("duplicate?", "flags", "result"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        flags = "?" if o.flags is None and o.error is None else ", ".join(o.flags or [])
        if o.error:
            result = f"FAILED: {o.error}"
        elif o.already_receipted:
            result = "already receipted"
        else:
            result = "receipt OK" + (f", resumed at {o.resumed_from} B" if o.resumed_from else "")
        cells = (str(o.path), o.evidence_id or "", "yes" if o.duplicate else "no", flags, result)
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
    reasons = [(o.path.name, flag, why) for o in outcomes for flag, why in o.flag_reasons.items() if why]
    if reasons:
        console.print("标记原因 (why each flag was raised):")
        for name, flag, why in reasons:
            console.print(Text(f"  {name}  {flag}: {why}"))


@click.command("upload")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@tag_options(handler_required=True)
def upload(paths: tuple[Path, ...], **fields: Any) -> None:
    """Send recordings or whole recorder folders to the vault; write a verified receipt beside each file."""
    with _connected(fields) as (client, tags, quiet):
        try:
            files = expand_paths(paths)
        except ClientError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(EXIT_USAGE)
        if not files:
            click.echo("nothing to upload", err=True)
            return
        try:
            with _progress(client, files, quiet):
                outcomes = client.upload(files, tags)
        except KeyboardInterrupt:
            click.echo("interrupted: rerun the same command to resume where it stopped", err=True)
            sys.exit(130)
        _summary(outcomes, Console())
        failed = [o for o in outcomes if o.error]
        if failed:
            click.echo(f"{len(failed)} of {len(outcomes)} files FAILED; they have no receipt", err=True)
            sys.exit(EXIT_FAILED)


@click.command("dock")
@click.argument("watch_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="Ingest the recorder folders present now, then exit.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.01),
              help="Seconds between scans; a folder is ingested once unchanged across two scans.")
@tag_options(handler_required=False)
def dock(watch_dir: Path, once: bool, interval: float, **fields: Any) -> None:
    """Watch a docking-station folder; ingest each recorder folder (tags from its evault.json/evault.toml or the
    options) and write receipts and EVAULT-CLEARED.txt. Never deletes anything."""
    console = Console()
    with _connected(fields) as (client, defaults, quiet):

        def report(folder_report: FolderReport) -> None:
            console.print(f"recorder folder {folder_report.folder}:")
            if folder_report.error:
                console.print(f"  not ingested: {folder_report.error}", markup=False)
            else:
                _summary(folder_report.outcomes, console)

        station = Dock(client, watch_dir, defaults, clock=lambda: datetime.now(UTC), on_report=report,
                       batch=lambda files: _progress(client, files, quiet))
        try:
            reports = station.run(interval=interval, once=once)
        except KeyboardInterrupt:
            click.echo("stopped; nothing was deleted", err=True)
            return
        if any(r.failed for r in reports):
            sys.exit(EXIT_FAILED)
