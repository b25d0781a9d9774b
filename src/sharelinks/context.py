"""What a running app holds: settings, database, caches. Reached from a request as `ctx(request)`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.requests import Request

from sharelinks.config import Settings
from sharelinks.db.database import Database
from sharelinks.delivery.ssrf import NetworkPolicy
from sharelinks.keys.crypto import SecretBox
from sharelinks.links.clicks import ClickRecorder
from sharelinks.links.pull import PullCache
from sharelinks.links.targets import Targets
from sharelinks.observability.access_log import AccessLog
from sharelinks.tokens.service import TokenCache


@dataclass
class AppContext:
    settings: Settings
    db: Database
    token_cache: TokenCache
    secrets: SecretBox
    network_policy: NetworkPolicy
    targets: Targets
    clicks: ClickRecorder
    pulls: PullCache
    access_log: AccessLog | None = None
    # Background work of this process (backfill jobs), cancelled at shutdown and resumed at start.
    background: set[asyncio.Task[None]] = field(default_factory=set)


def ctx(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]
