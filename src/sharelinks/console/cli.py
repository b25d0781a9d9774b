"""`sharelinks user create EMAIL`: console users (the password is prompted for, or read from stdin)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from sharelinks.clitools import fail, migrated_database, out
from sharelinks.console import users
from sharelinks.http.errors import ApiError

app = typer.Typer(help="Console users.", no_args_is_help=True)


@app.command("create")
def create(
    email: Annotated[str, typer.Argument(help="The user's email (their sign-in name).")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin instead of prompting.")] = False,
) -> None:
    """Create a console user."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    db = migrated_database()
    try:
        db.call(users.create_user, email, password)
    except ApiError as error:
        fail(error)
    out.print(f"console user {email} created; sign in at /console")
