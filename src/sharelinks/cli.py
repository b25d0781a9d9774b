"""The `sharelinks` command (also `python -m sharelinks`)."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from sharelinks.backfill import cli as backfill_cli
from sharelinks.clitools import database, err, fail, migrated_database, out, safe_url, tune_gc
from sharelinks.config import Settings
from sharelinks.connectors import cli as connectors_cli
from sharelinks.console import cli as console_cli
from sharelinks.db.migrate import upgrade
from sharelinks.delivery import cli as delivery_cli
from sharelinks.extensions import cli as extensions_cli
from sharelinks.http.body import Fields
from sharelinks.http.errors import ApiError
from sharelinks.keys import cli as keys_cli
from sharelinks.keys.crypto import SecretKeyMissing
from sharelinks.programs import service as programs
from sharelinks.tokens import service as tokens
from sharelinks.tokens.scopes import parse_scopes
from sharelinks.webhooks import cli as webhooks_cli

app = typer.Typer(help="Sharelinks: personal referral share links for every customer.", no_args_is_help=True)
program_app = typer.Typer(help="Programs: label, domains, destination.", no_args_is_help=True)
token_app = typer.Typer(help="API access tokens.", no_args_is_help=True)
app.add_typer(program_app, name="program")
app.add_typer(token_app, name="token")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(webhooks_cli.app, name="webhooks")
app.add_typer(extensions_cli.app, name="extension")
app.add_typer(connectors_cli.app, name="connector")
app.command("backfill")(backfill_cli.backfill)
app.add_typer(console_cli.app, name="user")
app.command("worker")(delivery_cli.worker)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Start the API (docs at /docs), creating or migrating the database first."""
    import uvicorn

    from sharelinks.app import create_app, server_options
    from sharelinks.observability import logs

    settings = Settings.from_env()
    logs.configure(settings.log_level)
    db = database(settings)
    upgrade(db.engine)
    db.dispose()
    tune_gc()
    if db.is_sqlite:
        # SQLite's units run in one thread beside the loop (db.database) and hand the GIL back and
        # forth with it at every statement. At the default 5 ms switch interval a busy loop kept
        # that thread waiting inside its transaction, holding SQLite's write lock for a `sharelinks
        # worker` process too: with 0.5 ms, events with a link and a webhook message went 1,846-1,986
        # → 1,971/s with the worker in `serve`, and with its own process p99 60-62 → 47 ms.
        sys.setswitchinterval(0.0005)
    err.print(f"Sharelinks on http://{host}:{port}  (database: {safe_url(settings.database_url)}; docs at /docs)")
    try:
        application = create_app(settings)
    except SecretKeyMissing as missing:
        err.print(f"[red]error[/red] {missing}")
        raise typer.Exit(code=2) from None
    uvicorn.run(
        application,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        **server_options(application),
    )


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = Settings.from_env()
    db = database(settings)
    upgrade(db.engine)
    out.print(f"database at newest schema: {safe_url(settings.database_url)}")


@program_app.command("create")
def program_create(
    label: Annotated[str, typer.Option(help="Program label, e.g. refer-a-friend.")],
    domain: Annotated[list[str], typer.Option(help="Program domain; repeat for more (first is primary).")],
    destination: Annotated[str, typer.Option(help="Where a click on a share link lands.")],
    fallback: Annotated[str | None, typer.Option(help="Fallback URL (unknown codes, email templates).")] = None,
    code_style: Annotated[str, typer.Option(help="'random' or 'name' (first name plus digits).")] = "random",
) -> None:
    """Create a program."""
    db = migrated_database()
    body = {"label": label, "domains": domain, "destination_url": destination, "fallback_url": fallback,
            "code_style": code_style}  # fmt: skip
    try:
        changes = programs.parse_changes(Fields(body), creating=True)
        program = db.call(programs.create, changes)
    except ApiError as error:
        fail(error)
    out.print(f"created program [bold]{program.label}[/bold] on https://{program.primary_domain}")


@program_app.command("list")
def program_list() -> None:
    """List programs."""
    db = migrated_database()
    table = Table("label", "domains", "destination", "fallback", "code style")
    for p in db.call(programs.list_programs):
        table.add_row(p.label, ", ".join(p.domains), p.destination_url, p.fallback_url or "", p.code_style)
    out.print(table)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="What the token is for.")],
    scope: Annotated[list[str], typer.Option(help="USER_SUPPORT, CLIENT_ADMIN, CLIENT_SUPERUSER, …; repeatable.")],
    days: Annotated[int, typer.Option(help="Lifetime in days (0: never expires).")] = 365,
) -> None:
    """Create an access token. The token is printed once, alone on the last line."""
    scopes = parse_scopes(scope)
    if not scopes:
        err.print(f"[red]error[/red] unknown scope in {scope}")
        raise typer.Exit(code=2)
    db = migrated_database()
    issued = db.call(tokens.issue, name=name, scopes=scopes, duration=timedelta(days=days) if days else None)
    err.print(f"token {issued.principal.token_id} ({', '.join(sorted(scopes))}); store it now, it is not shown again:")
    # Plain print, not rich: nothing may wrap or colour the one line scripts read.
    print(issued.access_token, file=sys.stdout, flush=True)


@token_app.command("list")
def token_list() -> None:
    """List live tokens (never their values)."""
    db = migrated_database()
    table = Table("id", "name", "scopes", "created", "expires")
    for t in db.call(tokens.list_tokens):
        table.add_row(
            str(t.token_id), t.name, ", ".join(sorted(t.scopes)), t.created_at.isoformat(timespec="seconds"),
            t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never",
        )  # fmt: skip
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (from `token list`).")],
) -> None:
    """Revoke a token."""
    db = migrated_database()
    if not db.call(tokens.revoke_by_id, token_id):
        err.print(f"[red]error[/red] no live token with id {token_id}")
        raise typer.Exit(code=2)
    out.print(f"revoked token {token_id}")


def main() -> None:
    app()
