"""Small validators shared by several domains (labels, URLs, hosts, emails)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

LABEL_RE = re.compile(r"^[A-Za-z0-9_-]+$")
LABEL_MIN, LABEL_MAX = 1, 50
_HOST_RE = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$"
)
# Deliberately simple: one @, a dotted domain, no spaces. Deliverability is the ESP's job.
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
EMAIL_MAX = 254


def is_http_url(value: str, max_length: int = 2048) -> bool:
    if len(value) > max_length or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def normalize_host(value: str) -> str | None:
    """`share.yourbrand.com` from a host or an URL; None when it is not a host name."""
    raw = value.strip().lower()
    if "://" in raw:
        try:
            parts = urlsplit(raw)
        except ValueError:
            return None
        raw = parts.netloc
    raw = raw.rstrip("/")
    return raw if _HOST_RE.match(raw) else None


def normalize_email(value: str) -> str | None:
    """Trimmed, lowercased email, or None when it does not look like one."""
    email = value.strip()
    if len(email) > EMAIL_MAX or not _EMAIL_RE.match(email):
        return None
    return email.lower()
