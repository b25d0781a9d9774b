"""The ASGI application: share links, then the request observer, then the FastAPI API.

`sharelinks serve` puts links.protocol in front of all of it (`server_options`), so share links are
answered before ASGI; the LinkRouter layer serves them under any other server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from sharelinks import __version__
from sharelinks.backfill import routes as backfill_routes
from sharelinks.config import Settings
from sharelinks.connectors.routes import router as connectors_router
from sharelinks.console import routes as console_routes
from sharelinks.console import web
from sharelinks.context import AppContext
from sharelinks.db import changes, listener
from sharelinks.db.database import Database
from sharelinks.delivery.ssrf import NetworkPolicy
from sharelinks.delivery.worker import DeliveryWorker
from sharelinks.events import reactions
from sharelinks.events.routes import router as events_router
from sharelinks.extensions import service as extensions
from sharelinks.extensions.routes import router as extensions_router
from sharelinks.http.errors import ApiError, error_response, handle_api_error, handle_unexpected
from sharelinks.http.fastlane import FastLane
from sharelinks.http.openapi import document_idempotency_key
from sharelinks.idempotency.middleware import Idempotency
from sharelinks.keys.crypto import SecretBox
from sharelinks.keys.routes import router as keys_router
from sharelinks.links import routes as links_routes
from sharelinks.links.clicks import ClickRecorder
from sharelinks.links.handler import LinkHandler
from sharelinks.links.protocol import LinkProtocol
from sharelinks.links.pull import PullCache
from sharelinks.links.router import LinkRouter
from sharelinks.links.targets import Targets
from sharelinks.observability.access_log import AccessLog
from sharelinks.observability.middleware import RequestObserver
from sharelinks.observability.routes import router as observability_router
from sharelinks.persons.routes import router as persons_router
from sharelinks.programs.routes import router as programs_router
from sharelinks.shareables.routes import router as shareables_router
from sharelinks.tokens.routes import router as tokens_router
from sharelinks.tokens.service import TokenCache
from sharelinks.webhooks.routes import router as webhooks_router
from sharelinks.webhooks.routes import superuser as webhooks_superuser_router


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(ApiError("not_found"))
    if exc.status_code == 405:
        return error_response(ApiError("method_not_allowed"))
    return error_response(ApiError("invalid_parameter", status=exc.status_code, message=str(exc.detail)))


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: list[Any] = list(exc.errors())
    where = ".".join(str(p) for p in errors[0].get("loc", ())) if errors else "request"
    return error_response(ApiError("binding_error", field=where))


# Routes are matched in order: the busiest first.
ROUTERS = (
    observability_router,  # first: probes come every few seconds, and routes are matched in order
    shareables_router,
    events_router,
    persons_router,
    programs_router,
    links_routes.support,
    links_routes.admin,
    links_routes.public,
    extensions_router,
    connectors_router,
    backfill_routes.router,
    webhooks_superuser_router,
    webhooks_router,
    keys_router,
    tokens_router,
    console_routes.router,
)


def build_api(context: AppContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        context.db.start_background_tasks()
        if context.access_log is not None:
            context.access_log.start()
        worker = DeliveryWorker(context.db, context.secrets, context.settings) if context.settings.run_worker else None
        if worker is not None:
            worker.start()
        _app.state.worker = worker
        context.clicks.start()
        changes_listener = _listen_for_changes(context)
        await backfill_routes.resume_unfinished(context)
        yield
        for task in list(context.background):
            task.cancel()
        await asyncio.gather(*context.background, return_exceptions=True)
        if changes_listener is not None:
            changes_listener.cancel()
        await context.clicks.stop()
        if worker is not None:
            await worker.stop()
        if context.access_log is not None:
            await context.access_log.stop()
        context.db.dispose()

    api = FastAPI(
        title="Sharelinks",
        version=__version__,
        description="Personal referral share links for every customer, with an Extole-compatible API.",
        lifespan=lifespan,
    )
    api.state.ctx = context
    api.add_exception_handler(web.SignInRequired, web.sign_in_required)
    api.add_exception_handler(web.BadCsrf, web.bad_csrf)
    api.add_exception_handler(ApiError, handle_api_error)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(Exception, handle_unexpected)
    # The routers' routes go into the app's own router, as include_router did before FastAPI 0.165:
    # its included routers are matched lazily, through a context per route and scope keys set and
    # restored per candidate, which cost about a third of the CPU of a request FastAPI routes itself
    # (py-spy: /health/live 270-278 → 206 µs). Each route already carries its router's scope check,
    # tags and settings (the OpenAPI document is byte-identical; tests/test_auth.py checks every
    # route's scopes).
    for router in ROUTERS:
        api.router.routes.extend(router.routes)
    document_idempotency_key(api)
    # Every console asset is served from here: no CDN, no build step.
    api.mount(
        "/console/static", StaticFiles(directory=str(Path(web.__file__).parent / "static")), name="console-static"
    )
    return api


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> LinkRouter:
    settings = settings or Settings.from_env()
    # Events create share links (and their webhook messages) through the enabled extensions.
    reactions.register(extensions.on_event, together=extensions.on_events)
    db = database or Database(settings.database_url, background_checkpoints=True)
    context = AppContext(
        settings=settings,
        db=db,
        token_cache=TokenCache(settings.token_cache_seconds),
        secrets=SecretBox.from_settings(settings),
        network_policy=NetworkPolicy(settings.webhook_allow_networks),
        targets=Targets(db),
        clicks=ClickRecorder(db, settings.click_flush_seconds, retention_days=settings.click_retention_days),
        pulls=PullCache(),
        access_log=AccessLog() if settings.access_log else None,
    )
    api = build_api(context)
    idempotent = Idempotency(FastLane(api, api, ROUTERS), db, max_body_bytes=settings.max_batch_body_bytes)
    observed = RequestObserver(idempotent, access_log=context.access_log)
    # Share links first: their hot path never enters the API stack.
    handler = LinkHandler(context.targets, context.clicks, cookie_days=settings.advocate_cookie_days)
    app = LinkRouter(observed, handler)
    app.state = api.state  # type: ignore[attr-defined]  # so tests can reach the context
    return app


def server_options(app: LinkRouter) -> dict[str, Any]:
    """uvicorn settings for serving `app` (`sharelinks serve` and the tests' live servers alike)."""
    return {"loop": "uvloop", "http": LinkProtocol.bind(app.handler), "server_header": False}


def _listen_for_changes(context: AppContext) -> asyncio.Task[None] | None:
    """On PostgreSQL, hear other processes' changes (programs, links) and drop what they affect."""
    if context.db.is_sqlite:
        return None

    def resync() -> None:
        changes.deliver("programs:")  # anything missed while disconnected: reload it all

    listening = listener.listen(context.db.url, {changes.CHANNEL: changes.deliver}, resync)
    return asyncio.get_running_loop().create_task(listening, name="changes-listener")
