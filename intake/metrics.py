"""Prometheus metrics of the service: what each process counts, and the exposition of them all.

Processes write their values with prometheus_client's multiprocess mode, into memory-mapped
files in one folder (`intake.metrics_dir`), and `/metrics` merges the files of every process:
`intake run`'s pipeline child, `intake serve`'s workers, and the containers of compose.yml,
which share the folder as a volume. That mode was chosen over pushing values to Redis because
an increment stays a write to local memory (no round trip, no flush loop, nothing lost when
Redis is down, which is exactly when the numbers matter), and the library does the merging.
What a scrape reads from Redis and the database (lag, dead letters, deadlines) is sampled then,
by `intake.api.metrics`, not counted here.

The mode is chosen when this module is imported: with `PROMETHEUS_MULTIPROC_DIR` set (the
long-running commands set it first thing) values go to files; without it (tests, one-shot
commands) they are plain in-process values. Collectors are module-level singletons, created
once: prometheus_client refuses a name twice, and the test suite builds many apps in one
process. Label values are bounded: known vocabularies, and at most `MAX_CHILDREN` value sets
per metric (past that, `other`); never a phone, an id or a ticket number.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.metrics_core import Metric

from intake.domain.enums import EventKind, RequestType
from intake.metrics_dir import ENV, identifier_of, process_identifier

CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_CHILDREN = 500
OTHER = "other"

FOLDER = os.environ.get(ENV) or None
if FOLDER and not os.path.isdir(FOLDER):  # a stale setting of the shell: count alone
    FOLDER = None
disable_created_metrics()  # `_created` series double the output; multiprocess mode has none
# files named for host and pid (`intake.metrics_dir`), or plain values
values.ValueClass = values.MultiProcessValue(process_identifier) if FOLDER else values.MutexValue

_registry = CollectorRegistry(auto_describe=True)

MESSAGES_ACCEPTED = Counter(
    "intake_messages_accepted",
    "Messages made durable on the intake stream (retries of one message count once)",
    ["channel"],
    registry=_registry,
)
TICKETS_OPENED = Counter(
    "intake_tickets_opened",
    "Tickets the pipeline has committed",
    ["channel", "request_type"],
    registry=_registry,
)
BATCH_SECONDS = Histogram(
    "intake_pipeline_batch_seconds",
    "Time to process one pipeline batch, from decoding to its database commit",
    registry=_registry,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_SIZE = Histogram(
    "intake_pipeline_batch_size",
    "Entries in one pipeline batch",
    registry=_registry,
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
DEAD_LETTERS = Counter(
    "intake_dead_letters",
    "Intake entries moved to the dead-letter stream",
    ["reason"],
    registry=_registry,
)
DELIVERIES = Counter(
    "intake_deliveries",
    "Delivery outcomes recorded by the notifier (attempt_failed: one channel failed, "
    "another or a retry follows)",
    ["channel", "outcome"],
    registry=_registry,
)
SURVEY_ANSWERS = Counter(
    "intake_survey_answers",
    "Answers to callback surveys and rating prompts, by rating",
    ["rating", "channel"],
    registry=_registry,
)
HTTP_SECONDS = Histogram(
    "intake_http_request_duration_seconds",
    "HTTP requests by method, route template and status class, and their latency",
    ["method", "route", "status"],
    registry=_registry,
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

M = TypeVar("M", Counter, Histogram)


class Bound(Generic[M]):
    """A metric's children by label values, bound once: `.labels()` validates and locks on
    every call, a dict lookup does not."""

    def __init__(self, metric: M) -> None:
        self.metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *labels: str) -> M:
        child = self._children.get(labels)
        if child is None:
            if len(self._children) >= MAX_CHILDREN:
                labels = (OTHER,) * len(labels)
                child = self._children.get(labels)
            if child is None:
                child = self._children[labels] = self.metric.labels(*labels)
        return child


_accepted = Bound(MESSAGES_ACCEPTED)
_opened = Bound(TICKETS_OPENED)
_dead = Bound(DEAD_LETTERS)
_deliveries = Bound(DELIVERIES)
_answers = Bound(SURVEY_ANSWERS)
http_child = Bound(HTTP_SECONDS)

_REQUEST_TYPES = frozenset(RequestType)
_RATINGS = frozenset({"satisfied", "basic", "unsatisfied"})


def message_accepted(channel: str) -> None:
    _accepted(channel).inc()


def ticket_opened(*, channel: str, request_type: str | None) -> None:
    kind = request_type if request_type in _REQUEST_TYPES else OTHER
    _opened(channel, kind).inc()


def batch_processed(*, size: int, seconds: float) -> None:
    BATCH_SIZE.observe(size)
    BATCH_SECONDS.observe(seconds)


def dead_lettered(reason: str) -> None:
    """`reason`: a word (`failed`, `unreadable`), not the error text."""
    _dead(reason).inc()


def delivery_recorded(*, channel: str | None, status: str) -> None:
    outcome = "attempt_failed" if status == "sending" else status
    _deliveries(channel or "none", outcome).inc()


class _Event(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def data(self) -> dict[str, Any] | None: ...


def survey_answers_recorded(events: Iterable[_Event]) -> None:
    """Count the RATED events among committed ticket events."""
    for event in events:
        if event.kind != EventKind.RATED:
            continue
        data = event.data or {}
        rating = data.get("rating")
        label = rating if rating in _RATINGS else ("dimensions" if "dimensions" in data else OTHER)
        _answers(label, str(data.get("channel") or "none")).inc()


def process_exited(pid: int) -> None:
    """Bookkeeping for a child process that died (its live gauges stop counting)."""
    if FOLDER:
        multiprocess.mark_process_dead(identifier_of(pid), FOLDER)


class _Families:
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def exposition(sampled: Sequence[Metric] = ()) -> bytes:
    """Every process's metrics in the text format, with `sampled` families appended."""
    if FOLDER:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, FOLDER)
        text = generate_latest(registry)
    else:
        text = generate_latest(_registry)
    return text + generate_latest(_Families(sampled)) if sampled else text
