"""`evault upload` and `evault dock`: what an officer runs at the end of a shift.

Only click and the foundation load with this module, so `evault upload --help` stays fast; httpx and rich
load inside the commands. Exit statuses: 0 every file receipted; 1 a file failed otherwise (a receipt that does
not verify, a file that cannot be read); 6 the vault refused a file (not media, too large, bad tags); 75 the vault
stayed away (at start, after --wait-for-vault seconds; during the run, after --retries); 3 the token was refused;
2 bad options or tags; 5 the vault presents another signing key than the one pinned; 78 no vault configured or an
unusable state folder. Files that went up keep their receipts whatever the exit status."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click

from evault_client import __version__
from evault_client.cli import VaultCommand
from evault_client.context import Invocation, current
from evault_client.credentials import config_dir
from evault_client.errors import CommandFailed
from evault_client.exits import Exit, exit_for_status
from evault_client.upload.tags import ACTIVITIES, CONFIDENTIALITY

if TYPE_CHECKING:
    from evault_client.upload.dock import FolderReport
    from evault_client.upload.errors import ServerRefused
    from evault_client.upload.runner import IngestClient
    from evault_client.upload.tags import Tags

F = TypeVar("F", bound=Callable[..., Any])
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
DEFAULT_WAIT_SECONDS = 120.0


def tag_options(*, handler_required: bool) -> Callable[[F], F]:
    """Add the tagging and connection options shared by `upload` and `dock`."""
    options = [
        click.option("--server", default=None, help="Vault URL (default: evault --server, $EVAULT_SERVER or the "
                     "last `evault login`). Token: $EVAULT_TOKEN or the stored login."),
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
        click.option("--jobs", default=4, show_default=True, type=click.IntRange(1, 16),
                     help="Files sent at once (per recorder folder for dock)."),
        click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Where resumable upload URLs and the pinned vault key live (default: the client's "
                     "folder, e.g. ~/.config/evault/state; $EVAULT_STATE_DIR)."),
        click.option("--chunk-size", default=0, show_default=True, type=click.IntRange(0, 1024),
                     help="Largest tus PATCH in MiB; 0 sends the rest of each file in one PATCH (streamed from "
                     "the file; a dropped link resumes from the bytes the vault holds)."),
        click.option("--retries", default=8, show_default=True, type=click.IntRange(0, 100),
                     help="Retries with backoff (0.5 s doubling to 30 s) after a dropped link or a server failure."),
        click.option("--wait-for-vault", "wait_for_vault", default=DEFAULT_WAIT_SECONDS, show_default=True,
                     type=click.FloatRange(0), metavar="SECONDS",
                     help="How long to keep trying a vault that is down when the run starts (then exit 75)."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


@dataclass
class Session:
    """A connected run: the client, the batch's tags, and whether to draw bars."""

    run: Invocation
    client: IngestClient
    tags: Tags
    quiet: bool


def _tags(run: Invocation, fields: dict[str, Any]) -> Tags:
    from evault_client.upload.errors import ClientError
    from evault_client.upload.tags import Tags, check_tags, parse_time

    returned = fields.pop("field_return_at")
    try:
        return check_tags(Tags(
            case_number=fields.pop("case_number"), party=fields.pop("party"), handlers=tuple(fields.pop("handlers")),
            activity=fields.pop("activity"), recorder_serial=fields.pop("recorder_serial"),
            party_informed=fields.pop("party_informed"),
            field_return_at=parse_time(returned, name="--field-return-at") if returned else None,
            late_reason=fields.pop("late_reason"), notes=fields.pop("notes"),
            confidentiality=fields.pop("confidentiality"), place=fields.pop("place"),
        ))
    except ClientError as exc:
        raise CommandFailed("invalid_tags", exc.message, exit_status=Exit.USAGE) from exc


def _server(run: Invocation, option: str | None) -> str:
    if option:
        run.server_option = option
    server = run.server
    url = urlsplit(server)
    if url.scheme not in {"http", "https"} or not url.hostname:
        raise CommandFailed("invalid_server", run.text(
            f"服务器地址必须是 http(s) URL，例如 https://vault.example.gov.cn，而不是 {server!r}",
            f"the server must be an http(s) URL such as https://vault.example.gov.cn, not {server!r}"),
            exit_status=Exit.USAGE)
    if url.scheme == "http" and url.hostname not in LOOPBACK:
        click.echo(run.text(f"警告：{server} 是明文 HTTP，令牌和录像在网络上不加密传输",
                            f"warning: {server} is plain HTTP; your token and footage cross the network "
                            "unencrypted"), err=True)
    return server


def _refusal(run: Invocation, exc: ServerRefused) -> CommandFailed:
    if exc.status == 401:
        message = run.text(f"证据库不接受此令牌：请运行 evault login，或将 EVAULT_TOKEN 设为有效令牌（{exc.message}）",
                           f"the vault did not accept the token: run `evault login` or set EVAULT_TOKEN to a valid "
                           f"token ({exc.message})")
        return CommandFailed(exc.code, message, exit_status=Exit.AUTHENTICATION, status=401)
    return CommandFailed(exc.code, exc.message, exit_status=exit_for_status(exc.status), status=exc.status)


def _on_wait(run: Invocation) -> Callable[[float, ServerRefused], None]:
    def say(seconds: float, error: ServerRefused) -> None:
        from evault_client.upload.progress import retry_note

        click.echo(run.text(f"证据库暂时无法连接（{error.message}），", f"the vault is away ({error.message}); ")
                   + retry_note(seconds, run.text), err=True)

    return say


@contextmanager
def _connected(fields: dict[str, Any]) -> Iterator[Session]:
    """Parse options, check the token and pin the vault key, waiting a while for a vault that is down."""
    from evault_client.upload.errors import ClientError, ServerRefused, VaultUnreachable
    from evault_client.upload.runner import ClientOptions, IngestClient

    run = current()
    quiet = bool(fields.pop("quiet"))
    tags = _tags(run, fields)
    server = _server(run, fields.pop("server"))
    state_dir = fields.pop("state_dir") or Path(run.environ.get("EVAULT_STATE_DIR") or config_dir(run.environ)
                                                / "state")
    options = ClientOptions(server=server, token=run.token, state_dir=state_dir, jobs=fields.pop("jobs"),
                            chunk_size=fields.pop("chunk_size") * 1024 * 1024, retries=fields.pop("retries"),
                            wait_for_vault=fields.pop("wait_for_vault"), on_wait=_on_wait(run))
    try:
        client = IngestClient(options)
    except VaultUnreachable as exc:
        raise CommandFailed("server_unreachable", run.text(
            f"等待 {exc.waited:g} 秒后证据库仍无法连接：{exc.message}；稍后重新运行同一命令即可",
            f"the vault stayed unreachable for {exc.waited:g} s: {exc.message}; rerun the same command later"),
            exit_status=Exit.TEMPORARY_FAILURE) from exc
    except ServerRefused as exc:
        raise _refusal(run, exc) from exc
    except ClientError as exc:  # the vault presents another key than the pinned one
        raise CommandFailed("vault_key_changed", exc.message, exit_status=Exit.CONFLICT) from exc
    except OSError as exc:
        raise CommandFailed("state_dir_unusable", run.text(f"无法使用状态目录 {state_dir}：{exc}",
                                                           f"cannot use the state dir {state_dir}: {exc}"),
                            exit_status=Exit.CONFIGURATION) from exc
    try:
        yield Session(run=run, client=client, tags=tags, quiet=quiet)
    finally:
        client.close()


@contextmanager
def _progress(session: Session, total: int | None) -> Iterator[None]:
    from evault_client.upload.progress import RichProgress, SilentProgress

    if session.quiet:
        session.client.progress = SilentProgress()
        yield
        return
    with RichProgress(total_bytes=total, text=session.run.text) as sink:
        session.client.progress = sink
        yield


def _total_bytes(files: list[Path]) -> int:
    total = 0
    for path in files:
        with suppress(OSError):  # a vanished file is reported by its upload, not here
            total += path.stat().st_size
    return total


@click.command("upload", cls=VaultCommand)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@tag_options(handler_required=True)
def upload(paths: tuple[Path, ...], **fields: Any) -> None:
    """Send recordings or whole recorder folders to the vault; write a verified receipt beside each file."""
    from evault_client.upload.errors import ClientError
    from evault_client.upload.files import expand_paths
    from evault_client.upload.summary import batch_exit, print_summary

    with _connected(fields) as session:
        run = session.run
        try:
            files = expand_paths(paths)
        except ClientError as exc:
            raise CommandFailed("no_such_path", exc.message, exit_status=Exit.USAGE) from exc
        if not files:
            run.out.message(run.text("没有要上传的文件", "nothing to upload"))
            return
        try:
            with _progress(session, _total_bytes(files)):
                outcomes = session.client.upload(files, session.tags)
        except KeyboardInterrupt:
            click.echo(run.text("已中断：重新运行同一命令即可从中断处续传",
                                "interrupted: rerun the same command to resume where it stopped"), err=True)
            raise SystemExit(130) from None
        print_summary(outcomes, run.out, run.text)
        failed = [o for o in outcomes if o.error]
        if failed:
            click.echo(run.text(f"{len(outcomes)} 个文件中 {len(failed)} 个失败，没有收据",
                                f"{len(failed)} of {len(outcomes)} files FAILED; they have no receipt"), err=True)
            click.get_current_context().exit(int(batch_exit(outcomes)))


def _folder_reporter(run: Invocation) -> Callable[[FolderReport], None]:
    from evault_client.upload.summary import outcome_document, print_summary

    def report(folder_report: FolderReport) -> None:
        if run.json_mode:
            run.out.document({"folder": str(folder_report.folder), "recorder": folder_report.recorder,
                              "error": folder_report.error,
                              "files": [outcome_document(o) for o in folder_report.outcomes]})
            return
        folder = folder_report.folder
        run.out.message(run.text(f"执法记录仪文件夹 {folder}：", f"recorder folder {folder}:"))
        if folder_report.error:
            run.out.message(run.text(f"  未入库：{folder_report.error}", f"  not ingested: {folder_report.error}"))
        else:
            print_summary(folder_report.outcomes, run.out, run.text)

    return report


@click.command("dock", cls=VaultCommand)
@click.argument("watch_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="Ingest the recorder folders present now, then exit.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.01),
              help="Seconds between scans; a folder is ingested once unchanged across two scans.")
@click.option("--parallel", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Recorder folders ingested at once.")
@click.option("--station", default=None, help="This station's name in the vault's records (default: host name).")
@tag_options(handler_required=False)
def dock(watch_dir: Path, once: bool, interval: float, parallel: int, station: str | None, **fields: Any) -> None:
    """Watch a docking-station folder; ingest each recorder folder (tags from its evault.json/evault.toml or the
    options) and write receipts and EVAULT-CLEARED.txt. Never deletes anything."""
    from datetime import UTC, datetime

    from evault_client.upload.dock import Dock, StationStatus

    with _connected(fields) as session:
        run = session.run

        def warn(_code: str) -> None:
            click.echo(run.text("警告：此证据库不接收工作站状态（较旧版本），继续入库",
                                "warning: this vault does not take station status (an older version); "
                                "ingesting anyway"), err=True)

        status = StationStatus(session.client, station=station or socket.gethostname(),
                               client_version=__version__, warn=warn, zone=run.zone)
        station_dock = Dock(session.client, watch_dir, session.tags, clock=lambda: datetime.now(UTC),
                            on_report=_folder_reporter(run), batch=lambda folders: _progress(session, None),
                            parallel=parallel, status=status)
        try:
            reports = station_dock.run(interval=interval, once=once)
        except KeyboardInterrupt:
            click.echo(run.text("已停止；没有删除任何文件", "stopped; nothing was deleted"), err=True)
            return
        failed = [o for r in reports for o in r.outcomes]
        if any(r.error for r in reports):
            click.get_current_context().exit(int(Exit.CHECK_FAILED))
        from evault_client.upload.summary import batch_exit

        click.get_current_context().exit(int(batch_exit(failed)))
