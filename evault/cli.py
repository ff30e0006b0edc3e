"""The host's `evault` commands: they run the vault itself and read its files, so they work only on its host.

Each is a plain click command; the client's root group (evault_client.cli) adds them through the
`evault.host_commands` entry points. Every one but `init` refuses (exit 78) where it finds no vault."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import structlog

from evault.homes import record_home, refuse_second_vault, require_vault
from evault.setup import initialise, open_vault, write_credentials_file
from vault.cli_support import cli_settings, friendly_errors
from vault.config import Settings, host_login
from vault.context import VaultContext
from vault.db import utcnow
from vault.errors import InvalidInput
from vault.identities.actor import Actor
from vault.identities.models import Role

log = structlog.get_logger(__name__)


def host_actor() -> Actor:
    """Return who acts in a host command: the operating-system user, never a vault user's name."""
    return Actor(id=None, name=f"host:{host_login()}", role=None)


def open_host_vault(settings: Settings) -> VaultContext:
    """Open the vault at the resolved home, or refuse (exit 78) saying where it looked."""
    require_vault(settings)
    return open_vault(settings)


@click.command()
@click.option("--admin", "admin_name", default="admin", show_default=True, help="Name of the first admin.")
@click.option("--new-vault", is_flag=True,
              help="Make a new vault with its own signing key although this user's init already made one elsewhere.")
@click.option("--credentials-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the first admin's password and token to this file (0600) and print only where it is "
                   "(for containers, whose output goes to a log).")
@friendly_errors
def init(admin_name: str, new_vault: bool, credentials_file: Path | None) -> None:
    """Create the vault home, database, signing key and first admin; record the home (absolute)."""
    settings = cli_settings()
    refuse_second_vault(settings, new_vault=new_vault)
    result = initialise(settings, admin_name=admin_name)
    record_home(settings, now=utcnow())
    click.echo(f"vault home: {settings.home}")
    _warn_unencrypted(settings)
    if not result.admin_token:
        click.echo("already initialised; no new admin created")
    elif credentials_file is not None:
        written = write_credentials_file(credentials_file, result)
        click.echo(f"首位管理员 '{result.admin_name}' 已创建，登录密码和 API 令牌已写入 {written}（仅本用户可读）"
                   f" / admin user '{result.admin_name}' created; its password and API token are in {written} "
                   "(readable only by you)")
    else:
        click.echo(f"admin user '{result.admin_name}' created. Web sign-in password and API token "
                   "(shown once, keep them safe):")
        click.echo(f"password: {result.admin_password}")
        click.echo(f"(the password is also kept in {result.password_file}, readable only by you)")
        click.echo(result.admin_token)


def _warn_unencrypted(settings: Settings) -> None:
    """Say so when the keys, or the local store's originals, sit on a volume the kernel shows unencrypted."""
    from evault.volumes import unencrypted_warnings

    folders = {"the signing and personal-data keys": settings.keys_dir}
    if settings.store == "local":
        folders["the local store's originals"] = settings.objects_dir
    for warning in unencrypted_warnings(folders):
        click.echo(warning, err=True)


@click.command()
@friendly_errors
def migrate() -> None:
    """Bring the catalog's schema to the newest version (Alembic upgrade to head)."""
    from evault.migrate import current_revisions, upgrade_database
    from vault.context import build_context

    settings = cli_settings()
    require_vault(settings)
    context = build_context(settings)
    try:
        context.check_database()
        before = current_revisions(context.engine)
        upgrade_database(context.engine)
        after = current_revisions(context.engine)
    finally:
        context.close()
    if before == after:
        click.echo(f"catalog already at the newest schema ({', '.join(after)})")
    else:
        click.echo(f"catalog migrated from {', '.join(before) or 'empty'} to {', '.join(after)}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--scheduler/--no-scheduler", "embedded_scheduler", default=None,
              help="Run the scheduled jobs in this process too (default: yes, unless EVAULT_SCHEDULER=worker says "
                   "`evault worker` runs them).")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True,
              help="Addresses of the reverse proxies whose X-Forwarded-For/-Proto headers are believed (comma list).")
@friendly_errors
def serve(host: str, port: int, embedded_scheduler: bool | None, forwarded_allow_ips: str) -> None:
    """Run the API (OpenAPI docs at /docs) and the web app."""
    import uvicorn

    from evault.app import create_app
    from evault.reconcile import reconcile_in_background
    from evault.scheduler import start_scheduler

    settings = cli_settings(log_level=None)
    if embedded_scheduler and settings.scheduler == "worker":
        raise InvalidInput("--scheduler refused: EVAULT_SCHEDULER=worker says `evault worker` runs the scheduled "
                           "jobs; a second scheduler here would run them twice")
    context = open_host_vault(settings)
    context.check_store()
    context.check_custody_log()  # never serve, silently, a catalog behind its anchors (restored by hand, tampered)
    reconcile_in_background(context)
    url = f"http://{host}:{port}"
    # One JSON event like every other stderr line; `message` is the line a person starting the server looks for.
    log.info("serve.listening", url=url, docs=f"{url}/docs", message=f"Evidence Vault on {url} (docs: {url}/docs)")
    run_jobs = settings.scheduler == "embedded" if embedded_scheduler is None else embedded_scheduler
    scheduler = start_scheduler(context) if run_jobs else None
    try:
        # No log_config: uvicorn's loggers keep no handlers of their own and reach configure_logging's JSON
        # renderer; its access log stays off, the http.request event names the user, client and bytes instead.
        uvicorn.run(create_app(context), host=host, port=port, log_config=None, access_log=False,
                    proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


@click.command("reconcile")
@click.option("--full", is_flag=True, help="Check every stored object, not only the last days' (slow on large stores).")
@friendly_errors
def reconcile_command(full: bool) -> None:
    """Finish stranded uploads, lock committed objects, remove unreferenced ones; print what was done (JSON)."""
    from evault.reconcile import reconcile

    context = open_host_vault(cli_settings())
    try:
        click.echo(json.dumps(reconcile(context, full=full), ensure_ascii=False, indent=1))
    finally:
        context.close()


@click.command()
@click.option("--check", is_flag=True,
              help="Exit 0 only if this host's worker beat recently and the catalog and the store answer "
                   "(a container health check); else exit 1 saying why.")
@friendly_errors
def worker(check: bool) -> None:
    """Run the scheduled jobs (retention sweep, fixity audit, lock reconciliation, ...) until stopped."""
    if check:
        _check_worker()
        return
    from evault.reconcile import reconcile_in_background
    from evault.scheduler import run_worker

    context = open_host_vault(cli_settings(log_level=None))
    try:
        context.check_store()
        context.check_custody_log()
        reconcile_in_background(context)
        log.info("worker.running", message="Evidence Vault worker running; stop with Ctrl-C or SIGTERM")
        run_worker(context)
    finally:
        context.close()


def _check_worker() -> None:
    from evault.worker_health import worker_problems

    settings = cli_settings()
    require_vault(settings)
    problems = worker_problems(settings, now=utcnow())
    for problem in problems:
        click.echo(f"worker 不健康 (unhealthy): {problem}", err=True)
    if problems:
        sys.exit(1)
    click.echo("worker 正常 (healthy)")


class _JobName(click.ParamType):  # type: ignore[type-arg]
    """A scheduled job's name, checked against the scheduler's list only when the command runs."""

    name = "job"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from evault.scheduler import default_jobs

        names = sorted(spec.name for spec in default_jobs())
        if value not in names:
            self.fail(f"unknown job '{value}'; the jobs are: {', '.join(names)}", param, ctx)
        return value


@click.command("run-job")
@click.argument("name", type=_JobName())
@friendly_errors
def run_job(name: str) -> None:
    """Run one scheduled job now, in this process, and print its summary (JSON); NAME as `evault worker` runs it."""
    from evault.scheduler import default_jobs

    spec = next(spec for spec in default_jobs() if spec.name == name)
    context = open_host_vault(cli_settings())
    try:
        summary = spec.run(context)
    finally:
        context.close()
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2, default=str))


@click.command("verify-log")
@friendly_errors
def verify_log() -> None:
    """Re-check every custody entry against the catalog's checkpoints and every anchor, offline; exit 1 naming each
    broken entry or range. The verdict is kept as the log's last verification, run by host:<your login name>."""
    from vault.custody.browse import record_verification
    from vault.custody.verification import verify_anchored_log

    context = open_host_vault(cli_settings())
    try:
        with context.sessions() as session:
            started, at = time.monotonic(), utcnow()
            verdict = verify_anchored_log(session=session, anchors=context.anchors)
            record_verification(session=session, verdict=verdict, ran_by=host_actor(), via="host", at=at,
                                seconds=time.monotonic() - started)
            session.commit()
    finally:
        context.close()
    for anchored in verdict.anchored:
        click.echo(f"  {anchored}")
    for lost in verdict.lost:
        click.echo(f"  lost: {lost}")
    if verdict.unanchored:
        click.echo(f"  {verdict.unanchored} newest checkpoints are not anchored yet (the anchor job catches up)")
    if verdict.ok:
        click.echo(f"custody log OK: {verdict.entries} entries, {verdict.checkpoints} signed checkpoints and "
                   f"{len(verdict.anchored)} anchored checkpoints verified")
        return
    for problem in verdict.problems:
        click.echo(f"custody log BROKEN: {problem}", err=True)
    sys.exit(1)


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(click.prompt("新密码 (new password)", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


@click.command("admin-password")
@click.argument("name")
@friendly_errors
def admin_password(name: str) -> None:
    """Set a new web sign-in password for an admin who is locked out or lost it, read from stdin; the change is
    logged as made by host:<your login name>, and clears the lockout."""
    from vault.identities.service import get_user
    from vault.identities.sign_in import set_password

    password = _read_password()
    if not password:
        raise InvalidInput("no password on standard input")
    actor = host_actor()
    context = open_host_vault(cli_settings())
    try:
        with context.sessions() as session:
            user = get_user(session=session, name=name)
            if user.role != Role.ADMIN:
                raise InvalidInput(f"'{name}' is {user.role.value}, not an admin: an admin sets other people's "
                                   "passwords (evault users set-password)")
            set_password(session=session, actor=actor, user=user, password=password, now=utcnow())
            active = user.active
            session.commit()
    finally:
        context.close()
    note = "" if active else f"; the account is disabled: an admin enables it (evault users enable {name})"
    click.echo(f"password of admin '{name}' set by {actor.name}; sign in with it{note}")
