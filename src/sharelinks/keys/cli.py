"""`sharelinks keys`: security keys from the command line. Listings never show key material."""

from __future__ import annotations

import base64
import secrets
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from sharelinks.clitools import err, fail, migrated_database, out
from sharelinks.config import Settings
from sharelinks.http.body import Fields
from sharelinks.http.errors import ApiError
from sharelinks.keys import service
from sharelinks.keys.crypto import SecretBox, new_master_key

ALGORITHM_HELP = "PASSWORD, HTTP_BASIC, HS256, STANDARD_WEBHOOKS, HEADER or OAUTH2_CLIENT_CREDENTIALS."
app = typer.Typer(help="Security keys for outbound webhooks.", no_args_is_help=True)


def generated_secret(algorithm: str) -> str:
    if algorithm.upper() == "STANDARD_WEBHOOKS":
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(32)


def _secret(algorithm: str, key: str | None, key_stdin: bool, generate: bool) -> tuple[str | None, bool]:
    if generate:
        return generated_secret(algorithm), True
    if key_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return key, False


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="A name for the key.")],
    algorithm: Annotated[
        str, typer.Option(help="PASSWORD, HTTP_BASIC, HS256, STANDARD_WEBHOOKS, HEADER, OAUTH2_CLIENT_CREDENTIALS.")
    ],
    key: Annotated[
        str | None, typer.Option(help="The secret (prefer --key-stdin: shell history keeps options).")
    ] = None,
    key_stdin: Annotated[bool, typer.Option(help="Read the secret from the first line of stdin.")] = False,
    generate: Annotated[bool, typer.Option(help="Generate a strong secret and print it once.")] = False,
    header_name: Annotated[str | None, typer.Option(help="HEADER: the header to send.")] = None,
    header_value_template: Annotated[str | None, typer.Option(help="HEADER: value with {key}.")] = None,
    token_url: Annotated[str | None, typer.Option(help="OAUTH2: token endpoint.")] = None,
    client_id: Annotated[str | None, typer.Option(help="OAUTH2: client id.")] = None,
    scope: Annotated[str | None, typer.Option(help="OAUTH2: scope.")] = None,
    token_request_format: Annotated[str | None, typer.Option(help="OAUTH2: 'form' or 'json'.")] = None,
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a key. With --generate the secret is printed once, alone on the last line."""
    secret, generated = _secret(algorithm, key, key_stdin, generate)
    body: dict[str, Any] = {"name": name, "algorithm": algorithm, "key": secret, "description": description}
    optional = {"header_name": header_name, "header_value_template": header_value_template, "token_url": token_url,
                "client_id": client_id, "scope": scope, "token_request_format": token_request_format}  # fmt: skip
    body.update({k: v for k, v in optional.items() if v is not None})
    settings = Settings.from_env()
    db = migrated_database(settings)
    try:
        created = db.call(service.create, SecretBox.from_settings(settings), service.parse_request(Fields(body)))
    except ApiError as error:
        fail(error)
    err.print(f"created key {created.id} ({created.algorithm}) named {created.name}")
    if generated:
        err.print("generated secret; give it to the receiver now, it is not shown again:")
        print(secret, flush=True)
    else:
        print(created.id, flush=True)


@app.command("list")
def list_keys() -> None:
    """List keys (never their secrets)."""
    db = migrated_database()
    table = Table("id", "name", "algorithm", "version", "in grace", "updated")
    for k in db.call(service.list_keys):
        table.add_row(str(k.id), k.name, k.algorithm, str(k.version), str(k.retired_count),
                      k.updated_at.isoformat(timespec="seconds"))  # fmt: skip
    out.print(table)


@app.command("rotate")
def rotate(
    key_id: Annotated[str, typer.Argument(help="The key's id.")],
    key: Annotated[str | None, typer.Option(help="The new secret.")] = None,
    key_stdin: Annotated[bool, typer.Option(help="Read the new secret from stdin.")] = False,
    generate: Annotated[bool, typer.Option(help="Generate the new secret and print it once.")] = False,
    grace: Annotated[str, typer.Option(help="How long the old secret keeps signing (STANDARD_WEBHOOKS).")] = "PT24H",
) -> None:
    """Give a key a new secret."""
    settings = Settings.from_env()
    db = migrated_database(settings)
    try:
        current = db.call(service.require, key_id)
        secret, generated = _secret(current.algorithm, key, key_stdin, generate)
        rotated = db.call(service.rotate, SecretBox.from_settings(settings), key_id, secret, grace)
    except ApiError as error:
        fail(error)
    err.print(f"rotated key {rotated.id} to version {rotated.version}")
    if generated:
        print(secret, flush=True)


@app.command("delete")
def delete(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Delete a key no webhook uses."""
    db = migrated_database()
    try:
        gone = db.call(service.delete_key, key_id)
    except ApiError as error:
        fail(error)
    out.print(f"deleted key {gone.id}")


@app.command("master-key")
def master_key() -> None:
    """Print a new random master key for SHARELINKS_SECRET_KEY."""
    print(new_master_key())
