"""What every console page shares: templates, the signed-in session, CSRF-checked forms, flashes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sharelinks.console import users
from sharelinks.console.users import Session
from sharelinks.context import ctx
from sharelinks.http.dates import rfc3339

COOKIE = "sharelinks_console"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["when"] = lambda value: rfc3339(value) if value else ""
NAV = [
    ("/console", "Dashboard"),
    ("/console/programs", "Programs"),
    ("/console/extensions", "Extensions"),
    ("/console/keys", "Security Center"),
    ("/console/webhooks", "Outbound Webhooks"),
    ("/console/connectors", "Connectors"),
    ("/console/events", "Webhook Events"),
    ("/console/persons", "Persons"),
    ("/console/batches", "Batch jobs"),
    ("/console/tokens", "Access tokens"),
]


class SignInRequired(Exception):
    pass


class BadCsrf(Exception):
    pass


async def session_of(request: Request) -> Session:
    token = request.cookies.get(COOKIE)
    found = await ctx(request).db.run(users.session, token) if token else None
    if found is None:
        raise SignInRequired
    return found


async def checked_form(request: Request, session: Session) -> FormData:
    """The posted form, refused unless it carries this session's CSRF token."""
    form = await request.form()
    if form.get("csrf") != session.csrf_token:
        raise BadCsrf
    return form


def page(request: Request, template: str, session: Session | None, **values: Any) -> HTMLResponse:
    flash = request.query_params.get("done")
    return templates.TemplateResponse(
        request, template, {"session": session, "nav": NAV, "path": request.url.path, "flash": flash, **values}
    )


def back(url: str, message: str | None = None) -> RedirectResponse:
    from urllib.parse import quote

    return RedirectResponse(url + (f"?done={quote(message)}" if message else ""), status_code=303)


async def sign_in_required(request: Request, _exc: Exception) -> Response:
    return RedirectResponse("/console/login", status_code=303)


async def bad_csrf(request: Request, _exc: Exception) -> Response:
    return HTMLResponse("<h1>Forbidden</h1><p>The form expired. Go back, reload and try again.</p>", status_code=403)


async def slow_down(failures: int) -> None:
    """A pause that grows with consecutive failures: guessing costs time, a typo barely any."""
    await asyncio.sleep(min(0.25 * 2 ** max(failures - 1, 0), 4.0))
