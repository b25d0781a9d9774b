"""`sharelinks extension`: Create Share Link on Event from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from sharelinks.clitools import fail, migrated_database, out
from sharelinks.extensions import service
from sharelinks.http.body import Fields
from sharelinks.http.errors import ApiError

app = typer.Typer(help="Extensions: Create Share Link on Event.", no_args_is_help=True)


@app.command("create")
def create(
    program: Annotated[str, typer.Option(help="The program's label.")],
    trigger: Annotated[list[str] | None, typer.Option(help="Event name that creates the link; repeatable.")] = None,
    key: Annotated[str | None, typer.Option(help="Shareable key (default: the program label).")] = None,
    disabled: Annotated[bool, typer.Option(help="Create it switched off.")] = False,
) -> None:
    """Create a Create Share Link on Event extension (default trigger: converted)."""
    body: dict[str, Any] = {"type": service.CREATE_SHARE_LINK_ON_EVENT, "program_label": program, "key": key,
                            "enabled": not disabled}  # fmt: skip
    if trigger:
        body["trigger_events"] = trigger
    db = migrated_database()
    try:
        created = db.call(service.create_from, Fields(body))
    except ApiError as error:
        fail(error)
    out.print(f"extension {created.id}: {created.program_label} links on {', '.join(created.trigger_events)}")


@app.command("list")
def list_extensions() -> None:
    """List extensions."""
    db = migrated_database()
    table = Table("id", "type", "program", "triggers", "key", "enabled")
    for e in db.call(service.list_extensions):
        table.add_row(str(e.id), e.type, e.program_label, ", ".join(e.trigger_events), e.key or "", str(e.enabled))
    out.print(table)
