"""The Extole error envelope and the one catalogue of error codes, statuses and messages.

Every error the API returns has the body `{unique_id, http_status_code, code, message, parameters}` in
that order. Status policy (extole-api.md §2): request content problems 400, auth 403, a resource named
in the URL path that does not exist 404. We never answer 401.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from sharelinks.ids import new_id

log = logging.getLogger("sharelinks.errors")

# code -> (status, message)
CATALOG: dict[str, tuple[int, str]] = {
    # auth
    "missing_access_token": (403, "No access_token was provided with this request."),
    "invalid_access_token": (403, "The access_token provided with this request is invalid."),
    "expired_access_token": (403, "The access_token provided with this request has expired."),
    "access_denied": (403, "Access denied."),
    "scopes_denied": (403, "The access_token does not have the scope this request needs."),
    "invalid_credentials": (403, "Invalid credentials."),
    # generic request problems
    "invalid_json": (400, "The request body is not valid JSON."),
    "missing_request_body": (400, "A request body is required."),
    "binding_error": (400, "A request field has the wrong type."),
    "invalid_parameter": (400, "A request parameter is invalid."),
    "unsupported_media_type": (415, "The request Content-Type is not supported; send application/json."),
    "request_too_large": (413, "The request body is too large."),
    "too_many_requests": (429, "Too many requests."),
    "not_found": (404, "No such endpoint."),
    "method_not_allowed": (405, "This method is not allowed on this endpoint."),
    "server_error": (500, "An unexpected error occurred. Quote unique_id when reporting it."),
    "invalid_time_zone": (400, "The Time-Zone header is not a known IANA time zone."),
    "invalid_idempotency_key": (400, "An Idempotency-Key is 1 to 255 visible ASCII characters."),
    "idempotency_key_reused": (400, "This Idempotency-Key was used for a different request."),
    "idempotency_key_in_progress": (409, "A request with this Idempotency-Key is still being answered; retry later."),
    # shareables (extole-api.md §8)
    "label_is_missing": (400, "Label is missing"),
    "code_taken": (400, "The code associated with this shareable has already been specified"),
    "code_out_of_range": (400, "Code length must be between 4 and 50 characters"),
    "code_illegal_character": (400, "Code can only contain alphanumeric, dash and underscore"),
    "code_contains_reserved_word": (400, "Shareable code contains reserved word"),
    "code_profane_word": (400, "Code contains profane word"),
    "shareable_key_taken": (400, "The key associated with this shareable has already been specified"),
    "label_name_length_out_of_range": (400, "Label name is not of valid length"),
    "label_name_contains_illegal_character": (
        400,
        "Label name can only contain alphanumeric, dash and underscore characters",
    ),
    "data_attribute_name_invalid": (400, "Shareable data attribute name is invalid"),
    "data_attribute_value_invalid": (400, "Shareable data value is invalid"),
    "data_attribute_name_length_out_of_range": (
        400,
        "Shareable data attribute name length is out of range. Max 200 chars",
    ),
    "data_attribute_value_length_out_of_range": (
        400,
        "Shareable data attribute value length is out of range. Max 2000 chars",
    ),
    "content_image_url_invalid": (400, "Invalid content image_url"),
    "invalid_content_url": (400, "Invalid content url"),
    "content_url_length_out_of_range": (400, "Content url is out of range"),
    "content_description_length_exceeded": (400, "Content description length exceeded"),
    "person_not_rewardable": (400, "Person does not have email address"),
    "invalid_program": (400, "Invalid Program"),
    "unknown_program": (400, "The provided program url is not associated with an existing program"),
    "data_values_invalid": (400, "Data values parameter format is invalid"),
    "shareable_not_found": (404, "Shareable not found"),
    "person_not_found": (404, "Person not found"),
    # persons (extole-api.md §4)
    "identity_key_value_already_taken": (400, "Another person already has this identity key value."),
    "invalid_key_value": (400, "The identity key value is invalid."),
    "invalid_email": (400, "The email address is invalid."),
    "partner_user_id_invalid_length": (400, "partner_user_id must be at most 255 characters."),
    "invalid_length_first_name": (400, "first_name must be at most 50 characters."),
    "invalid_length_last_name": (400, "last_name must be at most 50 characters."),
    "person_partner_user_id_already_defined": (400, "Another person already has this partner_user_id."),
    "person_email_already_defined": (400, "Another person already has this email."),
    # events (extole-api.md §5)
    "missing_event_name": (400, "The event_name is missing."),
    "invalid_event_name": (400, "The event_name is invalid."),
    "invalid_event_time_format": (400, "Invalid event_time. Expected: ISO8601 format"),
    "event_blocked": (400, "The event was blocked."),
    "conversion_id_invalid_length": (400, "conversion_id must be at most 38 characters."),
    # tokens (extole-api.md §6)
    "invalid_client_id": (400, "The client_id is invalid."),
    "invalid_duration": (400, "duration_seconds must be a positive number of seconds."),
    "missing_credentials": (403, "No credentials were provided."),
    "token_not_found": (404, "Token not found"),
    # programs (ours)
    "program_not_found": (404, "Program not found"),
    "program_label_taken": (400, "A program with this label already exists."),
    "program_domain_taken": (400, "This domain already belongs to a program."),
    "invalid_program_domain": (400, "A program domain must be a host name such as share.yourbrand.com."),
    "invalid_url": (400, "The URL must be an absolute http or https URL."),
    "invalid_code_style": (400, "code_style must be 'name' or 'random'."),
    "invalid_advocate_param": (400, "advocate_param is 1 to 50 of letters, digits, '_', '.', '-'."),
    # barcodes
    "missing_type": (400, "The barcode type is missing."),
    "invalid_barcode_content": (400, "The barcode content is missing or too long."),
    "invalid_barcode_width": (400, "width must be between 64 and 2048 pixels."),
    "invalid_barcode_height": (400, "height must be between 64 and 2048 pixels."),
    "invalid_barcode_margin_width": (400, "margin_width must be between 0 and 64 pixels."),
    # security keys
    "invalid_key": (400, "The key is not valid for its algorithm."),
    "invalid_algorithm": (400, "Unknown key algorithm."),
    "invalid_key_name": (400, "A key name is 1 to 200 characters."),
    "invalid_key_type": (400, "Unknown key type."),
    "key_name_taken": (400, "A key with this name already exists."),
    "key_not_found": (404, "Security key not found"),
    "key_in_use": (400, "The key is used by webhooks; change them first."),
    "invalid_grace_period": (400, "grace_period is an ISO-8601 duration of at most P7D."),
    "invalid_header": (400, "A header name or value is not allowed."),
    # webhooks
    "webhook_not_found": (404, "Webhook not found"),
    "webhook_name_taken": (400, "A webhook with this name already exists."),
    "invalid_webhook_name": (400, "A webhook name is 1 to 200 characters."),
    "invalid_webhook_type": (400, "Unknown webhook type."),
    "invalid_method": (400, "The method must be POST, PUT or PATCH."),
    "invalid_event_types": (400, "Unknown webhook event type."),
    "invalid_payload_fields": (400, "Unknown payload field."),
    "invalid_payload_template": (400, "The payload template is not valid."),
    "invalid_retry_intervals": (400, "retry_intervals is a list of ISO-8601 durations."),
    "webhook_url_not_allowed": (400, "Webhooks cannot be sent to this address."),
    "webhook_event_not_found": (400, "No such event for this webhook."),
    "invalid_status": (400, "Unknown delivery status."),
    "missing_webhook_id": (400, "webhook_id is required."),
    "missing_client_id": (400, "client_id is required."),
    "request_client_id_invalid": (400, "The request and authorization must be for the same client"),
    "webhook_dispatch_failed": (400, "The webhook event could not be dispatched."),
    # connectors
    "connector_not_found": (404, "Connector not found"),
    "connector_name_taken": (400, "A connector with this name already exists."),
    "invalid_connector_type": (400, "Unknown connector type."),
    "invalid_connector_name": (400, "A connector name is 1 to 200 characters."),
    "invalid_credentials_fields": (400, "The connector's credentials are incomplete."),
    # backfill
    "batch_not_found": (404, "Batch job not found"),
    "batch_not_done": (400, "The batch job has not finished; its files are written when it is done."),
    "batch_not_active": (400, "The batch job is not pending or in progress."),
    "push_target_not_found": (400, "No webhook or connector with this id."),
    "missing_identity": (400, "The row has neither an email nor a partner_user_id."),
    "data_too_long": (400, "A data column is too long."),
    "invalid_batch_file": (400, "The upload must be a CSV or JSON Lines file."),
    # extensions
    "extension_not_found": (404, "Extension not found"),
    "invalid_extension_type": (400, "Unknown extension type."),
    "invalid_trigger_events": (400, "trigger_events is a list of event names."),
}


class ApiError(Exception):
    """An error the client caused (or is told about), rendered as the Extole envelope."""

    def __init__(
        self,
        code: str,
        /,
        *,
        status: int | None = None,
        message: str | None = None,
        params: dict[str, Any] | None = None,
        **parameters: Any,
    ):
        default_status, default_message = CATALOG[code]
        self.code = code
        self.status = status if status is not None else default_status
        self.message = message if message is not None else default_message
        self.parameters = {**(params or {}), **parameters}
        super().__init__(f"{code}: {self.message}")


def envelope(code: str, status: int, message: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    # Insertion order is the wire order.
    return {
        "unique_id": str(new_id()),
        "http_status_code": status,
        "code": code,
        "message": message,
        "parameters": parameters or {},
    }


def error_response(error: ApiError) -> Response:
    body = envelope(error.code, error.status, error.message, error.parameters)
    return Response(orjson.dumps(body), status_code=error.status, media_type="application/json")


async def handle_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def handle_unexpected(_request: Request, exc: Exception) -> Response:
    body = envelope("server_error", 500, CATALOG["server_error"][1])
    # The exception text may quote request data; it goes to our log only, tied to unique_id.
    log.error("unhandled error", exc_info=exc, extra={"unique_id": body["unique_id"]})
    return Response(orjson.dumps(body), status_code=500, media_type="application/json")
