"""Click statistics from the materialised counters and the daily rollup, never from the clicks table."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, func, select

from sharelinks.http.errors import ApiError
from sharelinks.links.models import click_daily
from sharelinks.programs import service as programs
from sharelinks.shareables.models import shareables

MEASURES = ("clicks", "unique_visitors", "qr_scans")


@dataclass(frozen=True)
class Day:
    day: date
    clicks: int
    unique_visitors: int
    qr_scans: int


@dataclass(frozen=True)
class Stats:
    clicks: int
    unique_visitors: int
    qr_scans: int
    by_day: list[Day] = field(default_factory=list)


def _days(conn: Connection, where: object, since: date | None, until: date | None) -> list[Day]:
    query = (
        select(click_daily.c.day, *(func.sum(getattr(click_daily.c, m)) for m in MEASURES))
        .where(where)  # type: ignore[arg-type]
        .group_by(click_daily.c.day)
        .order_by(click_daily.c.day)
    )
    if since is not None:
        query = query.where(click_daily.c.day >= since)
    if until is not None:
        query = query.where(click_daily.c.day <= until)
    return [Day(row[0], int(row[1]), int(row[2]), int(row[3])) for row in conn.execute(query)]


def _summed(days: list[Day], by_day: list[Day]) -> Stats:
    return Stats(
        sum(d.clicks for d in days), sum(d.unique_visitors for d in days), sum(d.qr_scans for d in days), by_day
    )


def for_shareable(conn: Connection, code: str, since: date | None, until: date | None) -> Stats:
    row = conn.execute(
        select(shareables.c.id, *(getattr(shareables.c, m) for m in MEASURES)).where(
            shareables.c.code_key == code.lower()
        )
    ).first()
    if row is None:
        raise ApiError("shareable_not_found", code=code[:50])
    days = _days(conn, click_daily.c.shareable_id == row.id, since, until)
    if since is None and until is None:
        return Stats(row.clicks, row.unique_visitors, row.qr_scans, days)
    return _summed(days, days)


def for_program(conn: Connection, label: str, since: date | None, until: date | None) -> Stats:
    program = programs.require_by_label(conn, label)
    days = _days(conn, click_daily.c.program_id == program.id, since, until)
    return _summed(days, days)
