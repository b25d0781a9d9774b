"""The console at /console: server-rendered pages over the same service functions as the API.

Every form posts back here with the session's CSRF token; failures re-render the page with the API's
own error code and message, so the console and the API never disagree about what is valid.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from sharelinks import clock
from sharelinks.backfill import routes as batch_routes
from sharelinks.backfill import service as batches
from sharelinks.connectors import service as connectors
from sharelinks.connectors.vendors import VENDORS
from sharelinks.console import queries, users
from sharelinks.console.users import Session
from sharelinks.console.web import COOKIE, back, checked_form, page, session_of, slow_down
from sharelinks.context import ctx
from sharelinks.extensions import service as extensions
from sharelinks.http.body import Fields
from sharelinks.http.dates import parse_iso8601
from sharelinks.http.errors import ApiError
from sharelinks.ids import parse_id
from sharelinks.keys import service as keys
from sharelinks.keys.algorithms import ALGORITHMS
from sharelinks.persons import service as persons
from sharelinks.programs import service as programs
from sharelinks.shareables import service as shareables
from sharelinks.tokens import service as tokens
from sharelinks.tokens.scopes import Scope, parse_scopes
from sharelinks.webhooks import payload
from sharelinks.webhooks import service as webhooks

router = APIRouter(include_in_schema=False)
Signed = Depends(session_of)


def _error(error: ApiError) -> dict[str, Any]:
    return {"code": error.code, "message": error.message, "parameters": error.parameters}


def _lines(value: Any) -> list[str]:
    return [v.strip() for v in str(value or "").replace(",", "\n").splitlines() if v.strip()]


# -- sign in -------------------------------------------------------------------------------------


@router.get("/console/login")
async def login_page(request: Request) -> Response:
    return page(request, "login.html", None, error=None)


@router.post("/console/login")
async def login(request: Request) -> Response:
    form = await request.form()
    outcome = await ctx(request).db.run(users.sign_in, str(form.get("email", "")), str(form.get("password", "")))
    if isinstance(outcome, users.Refusal):
        await slow_down(outcome.failures)
        return page(request, "login.html", None,
                    error={"code": "invalid_credentials", "message": outcome.message, "parameters": {}})  # fmt: skip
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(COOKIE, outcome.token, max_age=int(users.SESSION_FOR.total_seconds()), httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/console")  # fmt: skip
    return response


@router.post("/console/logout")
async def logout(request: Request, session: Session = Signed) -> Response:
    await checked_form(request, session)
    await ctx(request).db.run(users.sign_out, session.token)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# -- dashboard -----------------------------------------------------------------------------------


@router.get("/console")
async def dashboard(request: Request, session: Session = Signed) -> Response:
    return page(request, "dashboard.html", session, stats=await ctx(request).db.run(queries.dashboard))


# -- programs ------------------------------------------------------------------------------------


def _program_body(form: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "domains": _lines(form.get("domains")),
        "destination_url": str(form.get("destination_url", "")).strip(),
        "fallback_url": str(form.get("fallback_url", "")).strip() or None,
        "code_style": str(form.get("code_style") or "random"),
    }
    if form.get("label") is not None:
        body["label"] = str(form.get("label", "")).strip()
    return body


@router.get("/console/programs")
async def programs_page(request: Request, session: Session = Signed) -> Response:
    found = await ctx(request).db.run(programs.list_programs)
    return page(request, "programs.html", session, programs=found, error=None, form={})


@router.post("/console/programs")
async def create_program(request: Request, session: Session = Signed) -> Response:
    form = await checked_form(request, session)
    body = _program_body(form)
    try:
        changes = programs.parse_changes(Fields(body), creating=True)
        made = await ctx(request).db.run(programs.create, changes)
    except ApiError as error:
        found = await ctx(request).db.run(programs.list_programs)
        return page(request, "programs.html", session, programs=found, error=_error(error), form=dict(form))
    return back("/console/programs", f"Program {made.label} created.")


@router.get("/console/programs/{label}")
async def program_page(request: Request, label: str, session: Session = Signed) -> Response:
    found = await ctx(request).db.run(programs.require_by_label, label)
    return page(request, "program.html", session, program=found, error=None)


@router.post("/console/programs/{label}")
async def update_program(request: Request, label: str, session: Session = Signed) -> Response:
    form = await checked_form(request, session)
    body = _program_body(form)
    body.pop("label", None)
    try:
        changes = programs.parse_changes(Fields(body), creating=False)
        await ctx(request).db.run(programs.update_program, label, changes)
    except ApiError as error:
        found = await ctx(request).db.run(programs.require_by_label, label)
        return page(request, "program.html", session, program=found, error=_error(error))
    return back(f"/console/programs/{label}", "Saved.")


# -- extensions ----------------------------------------------------------------------------------


@router.get("/console/extensions")
async def extensions_page(request: Request, session: Session = Signed, error: dict[str, Any] | None = None) -> Response:
    db = ctx(request).db
    return page(request, "extensions.html", session, extensions=await db.run(extensions.list_extensions),
                programs=await db.run(programs.list_programs), suggestions=await db.run(queries.recent_event_names),
                error=error)  # fmt: skip


@router.post("/console/extensions")
async def create_extension(request: Request, session: Session = Signed) -> Response:
    form = await checked_form(request, session)
    body = {"type": extensions.CREATE_SHARE_LINK_ON_EVENT, "program_label": str(form.get("program_label", "")),
            "trigger_events": _lines(form.get("trigger_events")) or ["converted"], "enabled": True}  # fmt: skip
    try:
        await ctx(request).db.run(extensions.create_from, Fields(body))
    except ApiError as error:
        return await extensions_page(request, session, _error(error))
    return back("/console/extensions", "Create Share Link on Event is on.")


@router.post("/console/extensions/{extension_id}/toggle")
async def toggle_extension(request: Request, extension_id: str, session: Session = Signed) -> Response:
    await checked_form(request, session)
    db = ctx(request).db
    found = await db.run(extensions.require, extension_id)
    await db.run(extensions.update_extension, extension_id, {"enabled": not found.enabled})
    return back("/console/extensions", "Disabled." if found.enabled else "Enabled.")


@router.post("/console/extensions/{extension_id}/delete")
async def delete_extension(request: Request, extension_id: str, session: Session = Signed) -> Response:
    await checked_form(request, session)
    await ctx(request).db.run(extensions.delete_extension, extension_id)
    return back("/console/extensions", "Deleted.")


# -- security keys -------------------------------------------------------------------------------

KEY_FIELDS = ("name", "algorithm", "key", "description", "header_name", "header_value_template", "token_url",
              "client_id", "scope", "token_request_format")  # fmt: skip


@router.get("/console/keys")
async def keys_page(request: Request, session: Session = Signed, error: dict[str, Any] | None = None) -> Response:
    found = await ctx(request).db.run(keys.list_keys)
    return page(request, "keys.html", session, keys=found, algorithms=sorted(ALGORITHMS), error=error)


@router.post("/console/keys")
async def create_key(request: Request, session: Session = Signed) -> Response:
    form = await checked_form(request, session)
    body = {k: str(form.get(k)) for k in KEY_FIELDS if form.get(k)}
    app = ctx(request)
    try:
        made = await app.db.run(keys.create, app.secrets, keys.parse_request(Fields(body)))
    except ApiError as error:
        return await keys_page(request, session, _error(error))
    return back("/console/keys", f"Key {made.name} created. Its secret is stored encrypted and never shown.")


@router.post("/console/keys/{key_id}/rotate")
async def rotate_key(request: Request, key_id: str, session: Session = Signed) -> Response:
    form = await checked_form(request, session)
    app = ctx(request)
    try:
        await app.db.run(keys.rotate, app.secrets, key_id, str(form.get("key") or "") or None,
                         str(form.get("grace_period") or "PT24H"))  # fmt: skip
    except ApiError as error:
        return await keys_page(request, session, _error(error))
    return back("/console/keys", "Rotated.")


@router.post("/console/keys/{key_id}/delete")
async def delete_key(request: Request, key_id: str, session: Session = Signed) -> Response:
    await checked_form(request, session)
    try:
        await ctx(request).db.run(keys.delete_key, key_id)
    except ApiError as error:
        return await keys_page(request, session, _error(error))
    return back("/console/keys", "Deleted.")


# -- webhooks ------------------------------------------------------------------------------------


def _webhook_body(form: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": str(form.get("name", "")), "url": str(form.get("url", "")).strip(),
                            "method": str(form.get("method") or "POST")}  # fmt: skip
    if form.get("client_key_id"):
        body["client_key_id"] = str(form.get("client_key_id"))
    template = str(form.get("payload_template") or "").strip()
    if template:
        try:
            body["payload_template"] = orjson.loads(template)
        except orjson.JSONDecodeError:
            raise ApiError("invalid_payload_template", message="The template is not valid JSON.") from None
    elif form.getlist("payload_fields"):
        body["payload_fields"] = [str(f) for f in form.getlist("payload_fields")]
    return body


@router.get("/console/webhooks")
async def webhooks_page(request: Request, session: Session = Signed, error: dict[str, Any] | None = None) -> Response:
    db = ctx(request).db
    found = await db.run(webhooks.list_webhooks)
    return page(request, "webhooks.html", session, webhooks=found, keys=await db.run(keys.list_keys),
                fields=payload.FIELDS, defaults=payload.DEFAULT_FIELDS, error=error)  # fmt: skip


@router.post("/console/webhooks")
async def create_webhook(request: Request, session: Session = Signed) -> Response:
    form = await checked_form(request, session)
    app = ctx(request)
    try:
        body = _webhook_body(form)
        made = await app.db.run(webhooks.create_from, Fields(body), app.network_policy)
    except ApiError as error:
        return await webhooks_page(request, session, _error(error))
    return back(f"/console/webhooks/{made.id}", "Webhook created.")


@router.post("/console/webhooks/preview")
async def preview_webhook(request: Request, session: Session = Signed) -> Response:
    """The exact JSON a sample Share Link Created would carry with the fields or template in the form."""
    form = await checked_form(request, session)
    try:
        body = _webhook_body(form)
        fields = payload.check_fields(body["payload_fields"]) if "payload_fields" in body else None
        template = payload.check_template(body["payload_template"]) if "payload_template" in body else None
    except ApiError as error:
        return JSONResponse({"error": f"{error.code}: {error.message}"}, status_code=400)
    event = {**webhooks.sample_event(clock.now()), "event_id": "0"}
    return Response(payload.render(event, fields, template), media_type="application/json")


@router.get("/console/webhooks/{webhook_id}")
async def webhook_page(request: Request, webhook_id: str, session: Session = Signed) -> Response:
    db = ctx(request).db
    found = await db.run(webhooks.require, webhook_id)
    dispatches = await db.run(webhooks.recent_dispatches, webhook_id, 0, 20)
    preview = webhooks.preview(found, webhooks.sample_event(clock.now())).decode()
    counts = await db.run(webhooks.counts_by_status, found.id)
    return page(request, "webhook.html", session, webhook=found, dispatches=dispatches, preview=preview, counts=counts)


@router.post("/console/webhooks/{webhook_id}/test")
async def test_webhook(request: Request, webhook_id: str, session: Session = Signed) -> Response:
    await checked_form(request, session)
    await ctx(request).db.run(webhooks.enqueue_test, webhook_id)
    return back(f"/console/webhooks/{webhook_id}", "Test event queued; its attempt appears below in a moment.")


# -- connectors ----------------------------------------------------------------------------------


@router.get("/console/connectors")
async def connectors_page(request: Request, session: Session = Signed, error: dict[str, Any] | None = None) -> Response:
    db = ctx(request).db
    return page(request, "connectors.html", session, connectors=await db.run(connectors.list_connectors),
                vendors=VENDORS, programs=await db.run(programs.list_programs), error=error)  # fmt: skip


def _pairs(text: Any) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for line in str(text or "").splitlines():
        name, _, value = line.partition("=")
        if name.strip():
            pairs[name.strip()] = value.strip()
    return pairs


@router.post("/console/connectors")
async def create_connector(request: Request, session: Session = Signed) -> Response:
    form = await checked_form(request, session)
    app = ctx(request)
    body = {"type": str(form.get("type", "")), "name": str(form.get("name", "")),
            "program_label": str(form.get("program_label", "")), "credentials": _pairs(form.get("credentials")),
            "options": _pairs(form.get("options")), "base_url": str(form.get("base_url") or "") or None}  # fmt: skip
    try:
        made = await app.db.run(connectors.create, app.secrets, Fields(body), app.network_policy)
    except ApiError as error:
        return await connectors_page(request, session, _error(error))
    return back(f"/console/connectors/{made.id}", "Connected.")


@router.get("/console/connectors/{connector_id}")
async def connector_page(request: Request, connector_id: str, session: Session = Signed) -> Response:
    db = ctx(request).db
    found = await db.run(connectors.require, connector_id)
    return page(
        request, "connector.html", session, connector=found, snippet=await db.run(connectors.snippet, connector_id)
    )


# -- webhook events ------------------------------------------------------------------------------


def _moment(raw: str | None) -> Any:
    """A `datetime-local` field's value (read as UTC), or None when empty or malformed."""
    return parse_iso8601(raw) if raw else None


@router.get("/console/events")
async def events_page(request: Request, session: Session = Signed) -> Response:
    query = request.query_params
    db = ctx(request).db
    status = query.get("status") or None
    webhook_id = parse_id(query.get("webhook_id") or "") if query.get("webhook_id") else None
    where = webhooks.ReportFilter(webhook_id=webhook_id, status=status if status in webhooks.STATUSES else None,
                                  email=query.get("email") or None, since=_moment(query.get("since")),
                                  until=_moment(query.get("until")), limit=100)  # fmt: skip
    rows = await db.run(webhooks.report, where)
    return page(request, "events.html", session, rows=rows, webhooks=await db.run(webhooks.list_webhooks),
                statuses=webhooks.STATUSES, filters=dict(query))  # fmt: skip


@router.post("/console/events/replay")
async def replay_events(request: Request, session: Session = Signed) -> Response:
    form = await checked_form(request, session)
    db = ctx(request).db
    replayed = 0
    for value in form.getlist("event"):
        webhook_id, _, event_id = str(value).partition(":")
        await db.run(webhooks.replay_one, webhook_id, event_id, {})
        replayed += 1
    return back("/console/events", f"{replayed} event(s) queued again, with their original ids.")


# -- persons -------------------------------------------------------------------------------------


@router.get("/console/persons")
async def persons_page(request: Request, session: Session = Signed) -> Response:
    q = (request.query_params.get("q") or "").strip()
    db = ctx(request).db
    found: list[Any] = []
    if q:

        def search(conn: Any) -> list[Any]:
            hits = [persons.find_by_email(conn, q) if "@" in q else None, persons.find_by_partner_user_id(conn, q)]
            link = shareables.by_code(conn, q)
            if link is not None:
                hits.append(persons.get(conn, link.person_id))
            unique = {p.id: p for p in hits if p is not None}
            return list(unique.values())

        found = await db.run(search)
    return page(request, "persons.html", session, q=q, persons=found)


@router.get("/console/persons/{person_id}")
async def person_page(request: Request, person_id: str, session: Session = Signed,
                      error: dict[str, Any] | None = None) -> Response:  # fmt: skip
    db = ctx(request).db
    pid = parse_id(person_id)
    person = await db.run(persons.require, pid)
    links = await db.run(shareables.list_for_person, person.id)
    activity = await db.run(queries.person_activity, person.id, person.email)
    return page(request, "person.html", session, person=person, links=links, activity=activity,
                programs=await db.run(programs.list_programs), error=error)  # fmt: skip


@router.post("/console/persons/{person_id}/links")
async def new_link(request: Request, person_id: str, session: Session = Signed) -> Response:
    form = await checked_form(request, session)
    app = ctx(request)
    body: dict[str, Any] = {"label": str(form.get("label", ""))}
    for name in ("code", "key"):
        if form.get(name):
            body[name] = str(form.get(name)).strip()
    try:
        request_body = shareables.parse_create(Fields(body))
        made, _ = await app.db.run(shareables.create, parse_id(person_id), request_body,
                                   require_email=app.settings.require_email_for_shareables)  # fmt: skip
    except ApiError as error:
        return await person_page(request, person_id, session, _error(error))
    return back(f"/console/persons/{person_id}", f"Share link {made.link} ready.")


# -- batch jobs ----------------------------------------------------------------------------------


@router.get("/console/batches")
async def batches_page(request: Request, session: Session = Signed, error: dict[str, Any] | None = None) -> Response:
    db = ctx(request).db
    return page(request, "batches.html", session, jobs=await db.run(batches.list_jobs, 0, 50),
                programs=await db.run(programs.list_programs), error=error)  # fmt: skip


@router.post("/console/batches")
async def upload_batch(request: Request, session: Session = Signed) -> Response:
    form = await checked_form(request, session)
    app = ctx(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await batches_page(request, session, {"code": "invalid_batch_file", "message": "Choose a file.",
                                                     "parameters": {}})  # fmt: skip
    try:
        job = await batch_routes.accept_upload(
            app,
            upload,
            program_label=str(form.get("program_label", "")),
            push=str(form.get("push") or "") or None,
            fire_webhooks=None,
        )
    except ApiError as error:
        return await batches_page(request, session, _error(error))
    return back(f"/console/batches/{job.id}", "Uploaded; the job is running.")


@router.get("/console/batches/{job_id}")
async def batch_page(request: Request, job_id: str, session: Session = Signed) -> Response:
    job = await ctx(request).db.run(batches.require, job_id)
    return page(request, "batch.html", session, job=job)


@router.get("/console/batches/{job_id}/{which}.csv")
async def batch_file(request: Request, job_id: str, which: str, session: Session = Signed) -> Response:
    job = await ctx(request).db.run(batches.require, job_id)
    if job.status != "done" or which not in ("results", "rejects"):
        return back(f"/console/batches/{job_id}")
    path = job.output_path if which == "results" else job.rejects_path
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"batch-{job.id}-{which}.csv")


# -- access tokens -------------------------------------------------------------------------------

CONSOLE_SCOPES = (Scope.USER_SUPPORT, Scope.CLIENT_ADMIN, Scope.CLIENT_SUPERUSER)


@router.get("/console/tokens")
async def tokens_page(request: Request, session: Session = Signed, issued: str | None = None,
                      error: dict[str, Any] | None = None) -> Response:  # fmt: skip
    found = await ctx(request).db.run(tokens.list_tokens)
    return page(request, "tokens.html", session, tokens=found, scopes=CONSOLE_SCOPES, issued=issued, error=error)


@router.post("/console/tokens")
async def create_token(request: Request, session: Session = Signed) -> Response:
    form = await checked_form(request, session)
    scopes = parse_scopes([str(s) for s in form.getlist("scope")])
    name = str(form.get("name", "")).strip()
    if not scopes or not name:
        missing = {"code": "invalid_parameter", "parameters": {}, "message": "Give a name and at least one scope."}
        return await tokens_page(request, session, error=missing)
    days = int(str(form.get("days") or "365"))
    made = await ctx(request).db.run(tokens.issue, name=name, scopes=scopes, duration=timedelta(days=days))
    # Shown once, on this response only; never stored in clear.
    return await tokens_page(request, session, issued=made.access_token)


@router.post("/console/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: str, session: Session = Signed) -> Response:
    await checked_form(request, session)
    await ctx(request).db.run(tokens.revoke_by_id, int(token_id))
    ctx(request).token_cache.clear()
    return back("/console/tokens", "Revoked.")
