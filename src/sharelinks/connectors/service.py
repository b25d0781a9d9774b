"""Connector rules: create (with the webhook it owns), read, update, delete, snippets, status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select, update

from sharelinks import clock
from sharelinks.connectors.models import connectors
from sharelinks.connectors.vendors import VENDORS
from sharelinks.connectors.vendors.base import Vendor
from sharelinks.db.lookup import require_by_id
from sharelinks.db.upsert import insert_or_ignore
from sharelinks.delivery.ssrf import NetworkPolicy
from sharelinks.http.body import Fields
from sharelinks.http.errors import ApiError
from sharelinks.ids import new_id
from sharelinks.keys.crypto import SecretBox
from sharelinks.programs import service as programs
from sharelinks.programs.models import programs as programs_table
from sharelinks.webhooks import service as webhooks
from sharelinks.webhooks.models import webhook_messages
from sharelinks.webhooks.models import webhooks as webhooks_table

STATUSES = ("active", "unauthorized", "failing")


@dataclass(frozen=True)
class Connector:
    id: int
    type: str
    name: str
    program_id: int
    program_label: str
    options: dict[str, Any]
    base_url: str | None
    status: str
    last_error: str | None
    webhook_id: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def vendor(self) -> Vendor:
        return VENDORS[self.type]


_SELECT = (
    select(connectors, programs_table.c.label.label("program_label"), webhooks_table.c.id.label("webhook_id"))
    .join(programs_table, programs_table.c.id == connectors.c.program_id)
    .outerjoin(webhooks_table, webhooks_table.c.connector_id == connectors.c.id)
)


def _to_connector(row: Any) -> Connector:
    return Connector(**{f: getattr(row, f) for f in Connector.__dataclass_fields__})


def vendor_of(kind: str | None) -> Vendor:
    vendor = VENDORS.get((kind or "").lower())
    if vendor is None:
        raise ApiError("invalid_connector_type", type=str(kind)[:40], allowed=sorted(VENDORS))
    return vendor


def _check_base(vendor: Vendor, options: dict[str, Any], base_url: str | None, policy: NetworkPolicy) -> str | None:
    base = vendor.base_url(options, base_url)
    refusal = policy.refuse_url(base)
    if refusal is not None:
        raise ApiError("webhook_url_not_allowed", url=base[:2048], reason=refusal)
    return base_url


def create(conn: Connection, box: SecretBox, body: Fields, policy: NetworkPolicy) -> Connector:
    body.only({"type", "name", "program_label", "credentials", "options", "base_url"})
    vendor = vendor_of(body.string("type"))
    name = (body.string("name") or "").strip()
    if not 1 <= len(name) <= 200:
        raise ApiError("invalid_connector_name", message="name is 1 to 200 characters.")
    program = programs.require_by_label(conn, body.string("program_label") or "")
    raw_credentials = body.obj("credentials")
    credentials = vendor.check_credentials(raw_credentials.data if raw_credentials else {})
    raw_options = body.obj("options")
    options = vendor.check_options(raw_options.data if raw_options else {})
    base_url = _check_base(vendor, options, body.string("base_url"), policy)
    connector_id = new_id()
    now = clock.now()
    row = {
        "id": connector_id,
        "type": vendor.type,
        "name": name,
        "program_id": program.id,
        "credentials": box.seal(orjson.dumps(credentials).decode(), connector_id),
        "options": options,
        "base_url": base_url,
        "status": "active",
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    }
    if not insert_or_ignore(conn, connectors, row):
        raise ApiError("connector_name_taken", name=name)
    # The connector owns one webhook: the outbox, retries, dead letters and reports all apply to it.
    webhooks.create(
        conn,
        {"name": f"connector:{name}", "url": vendor.base_url(options, base_url), "program_id": program.id,
         "connector_id": connector_id},
    )  # fmt: skip
    return require(conn, str(connector_id))


def get(conn: Connection, connector_id: int) -> Connector | None:
    row = conn.execute(_SELECT.where(connectors.c.id == connector_id)).first()
    return None if row is None else _to_connector(row)


def require(conn: Connection, raw_id: str) -> Connector:
    return require_by_id(conn, raw_id, get, "connector_not_found", "connector_id")


def list_connectors(conn: Connection) -> list[Connector]:
    return [_to_connector(r) for r in conn.execute(_SELECT.order_by(connectors.c.name))]


def update_connector(conn: Connection, box: SecretBox, raw_id: str, body: Fields, policy: NetworkPolicy) -> Connector:
    """New credentials or another host (a region, an SFMC subdomain, a base_url) resume a connector
    paused as unauthorized, and its paused messages: either may be what the vendor refused."""
    body.only({"name", "credentials", "options", "base_url"})
    found = require(conn, raw_id)
    vendor = found.vendor
    values: dict[str, Any] = {"updated_at": clock.now()}
    name = body.string("name")
    if name is not None:
        values["name"] = name.strip()
    raw_options = body.obj("options")
    options = vendor.check_options({**found.options, **raw_options.data}) if raw_options else found.options
    values["options"] = options
    base_url = body.string("base_url") if body.has("base_url") else found.base_url
    values["base_url"] = _check_base(vendor, options, base_url, policy)
    url = vendor.base_url(options, values["base_url"])
    raw_credentials = body.obj("credentials")
    if raw_credentials is not None:
        credentials = vendor.check_credentials(raw_credentials.data)
        values["credentials"] = box.seal(orjson.dumps(credentials).decode(), found.id)
    retry = raw_credentials is not None or url != vendor.base_url(found.options, found.base_url)
    if retry:
        values["status"], values["last_error"] = "active", None
    conn.execute(update(connectors).where(connectors.c.id == found.id).values(**values))
    if found.webhook_id is not None:
        webhook = webhooks_table.c.id == found.webhook_id
        conn.execute(update(webhooks_table).where(webhook).values(url=url, updated_at=clock.now()))
        if retry:
            resume(conn, found.webhook_id)
    webhooks.subscribers.clear()
    return require(conn, raw_id)


def resume(conn: Connection, webhook_id: int) -> int:
    from sharelinks.delivery import wakeup

    moved = conn.execute(
        update(webhook_messages)
        .where(webhook_messages.c.webhook_id == webhook_id, webhook_messages.c.status == "paused")
        .values(status="pending", next_attempt_at=clock.now(), lease_until=None, worker_id=None)
    ).rowcount
    if moved:
        wakeup.after_enqueue(conn)
    return int(moved or 0)


def delete_connector(conn: Connection, raw_id: str) -> Connector:
    found = require(conn, raw_id)
    conn.execute(delete(webhooks_table).where(webhooks_table.c.connector_id == found.id))
    conn.execute(delete(connectors).where(connectors.c.id == found.id))
    webhooks.subscribers.clear()
    return found


def open_credentials(conn: Connection, box: SecretBox, connector_id: int) -> dict[str, str] | None:
    sealed = conn.execute(select(connectors.c.credentials).where(connectors.c.id == connector_id)).scalar()
    return None if sealed is None else dict(orjson.loads(box.open(sealed, connector_id)))


def set_status(conn: Connection, connector_id: int, status: str, error: str | None) -> None:
    conn.execute(
        update(connectors)
        .where(connectors.c.id == connector_id)
        .values(status=status, last_error=error[:1000] if error else None)
    )


def snippet(conn: Connection, raw_id: str) -> dict[str, Any]:
    """The merge syntax to paste into templates, with the program's fallback URL, and a preview."""
    found = require(conn, raw_id)
    program = programs.require_by_label(conn, found.program_label)
    fallback = program.fallback_url or program.destination_url
    sample = f"https://{program.primary_domain}/alex01"
    return {
        "connector_id": str(found.id),
        "type": found.type,
        "vendor": found.vendor.title,
        "property": found.options["property"],
        "fallback_url": fallback,
        "snippets": found.vendor.snippet(found.options, fallback),
        "preview": {"person_with_link": sample, "person_without_link": fallback},
    }
