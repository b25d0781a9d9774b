"""Prometheus metrics. Route labels are templates (`/v5/persons/{person_id}`), never raw paths."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("sharelinks_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram(
    "sharelinks_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
LINKS_CREATED = Counter("sharelinks_links_created_total", "Share links created", ["source"], registry=REGISTRY)
EVENTS_RECEIVED = Counter("sharelinks_events_received_total", "Events received", ["outcome"], registry=REGISTRY)


# `labels()` costs a lock and a tuple lookup each time; the children are cached per label set.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
        _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


DELIVERY_ATTEMPTS = Counter(
    "sharelinks_delivery_attempts_total", "Webhook delivery attempts", ["outcome"], registry=REGISTRY
)
DELIVERY_LATENCY = Histogram(
    "sharelinks_delivery_duration_seconds",
    "Webhook delivery HTTP duration",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0),
    registry=REGISTRY,
)
_attempt_children: dict[str, Any] = {}


def observe_attempt(outcome: str, seconds: float) -> None:
    """One delivery attempt: its outcome counted (children cached as for requests), its duration."""
    child = _attempt_children.get(outcome)
    if child is None:
        child = _attempt_children[outcome] = DELIVERY_ATTEMPTS.labels(outcome)
    child.inc()
    DELIVERY_LATENCY.observe(seconds)
