"""Read models for console pages that no API endpoint needs: the dashboard and a person's activity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from sharelinks import clock
from sharelinks.events.models import events
from sharelinks.links.models import click_daily, clicks
from sharelinks.shareables.models import shareables
from sharelinks.webhooks.models import webhook_messages


def dashboard(conn: Connection) -> dict[str, Any]:
    now = clock.now()
    today = now.date()

    def links_since(days: int) -> int:
        query = (
            select(func.count()).select_from(shareables).where(shareables.c.created_at >= now - timedelta(days=days))
        )
        return int(conn.execute(query).scalar() or 0)

    def clicks_since(days: int) -> int:
        query = select(func.coalesce(func.sum(click_daily.c.clicks), 0)).where(
            click_daily.c.day > today - timedelta(days=days)
        )
        return int(conn.execute(query).scalar() or 0)

    def deliveries_since(days: int) -> dict[str, int]:
        query = (
            select(webhook_messages.c.status, func.count())
            .where(webhook_messages.c.created_at >= now - timedelta(days=days))
            .group_by(webhook_messages.c.status)
        )
        return {status: int(n) for status, n in conn.execute(query)}

    per_day = dict(
        conn.execute(
            select(click_daily.c.day, func.sum(click_daily.c.clicks))
            .where(click_daily.c.day > today - timedelta(days=7))
            .group_by(click_daily.c.day)
        ).all()
    )
    chart = [(today - timedelta(days=d), int(per_day.get(today - timedelta(days=d), 0))) for d in range(6, -1, -1)]
    return {
        "links": {"24 h": links_since(1), "7 d": links_since(7)},
        "clicks": {"24 h": clicks_since(1), "7 d": clicks_since(7)},
        "deliveries": {"24 h": deliveries_since(1), "7 d": deliveries_since(7)},
        "chart": chart,
        "chart_max": max([n for _, n in chart] + [1]),
    }


def recent_event_names(conn: Connection, limit: int = 20) -> list[str]:
    """Event names seen lately, most frequent first: suggestions for trigger events."""
    since = clock.now() - timedelta(days=30)
    query = (
        select(events.c.name, func.count().label("n"))
        .where(events.c.received_at >= since)
        .group_by(events.c.name)
        .order_by(func.count().desc())
        .limit(limit)
    )
    return [row.name for row in conn.execute(query)]


def person_activity(conn: Connection, person_id: int, email: str | None) -> dict[str, Any]:
    recent_clicks = conn.execute(
        select(clicks.c.clicked_at, clicks.c.code, clicks.c.is_bot, clicks.c.via_qr, clicks.c.is_unique)
        .where(clicks.c.person_id == person_id)
        .order_by(clicks.c.clicked_at.desc())
        .limit(20)
    ).all()
    recent_events = conn.execute(
        select(events.c.name, events.c.event_time).where(events.c.person_id == person_id)
        .order_by(events.c.event_time.desc()).limit(20)
    ).all()  # fmt: skip
    deliveries: list[Any] = []
    if email:
        deliveries = list(conn.execute(
            select(webhook_messages.c.id, webhook_messages.c.status, webhook_messages.c.attempt_count,
                   webhook_messages.c.created_at, webhook_messages.c.last_status_code)
            .where(webhook_messages.c.email_key == email.lower())
            .order_by(webhook_messages.c.created_at.desc()).limit(20)
        ).all())  # fmt: skip
    return {"clicks": recent_clicks, "events": recent_events, "deliveries": deliveries}
