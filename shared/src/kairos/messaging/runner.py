"""One call runs a consumer service: `run_consumer(spec, settings)` is the body of its main.

A `ConsumerSpec` says what is particular to a consumer (its name, topics, typed
handlers, the tables it needs, the effects it performs); the runner does what
every consumer needs the same way:
- the consumer (kairos.messaging.consumer) and, if the spec has effects, an
  `EffectDispatcher` beside it in the same process, performing what the handlers
  recorded once their transactions commit (ARCHITECTURE.md rule 6);
- ops endpoints on the port in `spec.ops_port_env` (default 8000): /healthz,
  /readyz (PostgreSQL answers; the consumer has caught up with its partitions once
  and, with `max_staleness_seconds`, what it applied is no further behind the
  producer's log), /metrics (lag, handler and effect metrics);
- an optional status report every second (`report_status`), for processes that
  must know how current the consumer is (the availability query API);
- SIGTERM / SIGINT: the consumer finishes its message, commits and leaves the
  group, the dispatcher finishes its batch, then the process exits 0.

`ConsumerProcess` is the same without signals or `asyncio.run`, for tests that
run a consumer inside their own event loop. See docs/consumers.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from kairos.effects import AnyEffectHandler, EffectDispatcher, create_effects_table
from kairos.events.booking import Payload
from kairos.messaging.consumer import EventConsumer
from kairos.messaging.handlers import Handler
from kairos.messaging.heartbeat import check_staleness
from kairos.messaging.kafka import GroupTimeouts
from kairos.messaging.worker import until_signalled
from kairos.settings import ServiceSettings
from kairos.web.health import Check, postgres_check
from kairos.web.observability import configure_logging
from kairos.web.ops_server import serving_ops

log = logging.getLogger("kairos.messaging.runner")

#: Creates the tables a consumer's handlers write (idempotent; runs before it starts).
Setup = Callable[[psycopg.Connection[Any]], None]
#: Records how current the consumer is, in a short transaction of its own.
StatusReport = Callable[[psycopg.Connection[Any], EventConsumer], None]

STATUS_INTERVAL = 1.0
DEFAULT_OPS_PORT = 8000


@dataclass(frozen=True)
class ConsumerSpec:
    """What makes a consumer service itself; everything else is the runner's.

    `name` keys its positions, labels its metrics and names its consumer group
    (unless `group_id` says otherwise) and its effect dispatcher.
    """

    name: str
    topics: str | tuple[str, ...]
    handlers: Mapping[type[Payload], Handler]
    effects: Sequence[AnyEffectHandler] = ()
    setup: Setup | None = None
    max_staleness_seconds: float | None = None
    report_status: StatusReport | None = None
    group_id: str | None = None
    ops_port_env: str = "OPS_PORT"
    # What else its /readyz checks (e.g. the provider its effects call).
    checks: Mapping[str, Check] = field(default_factory=dict)
    # Effects its dispatcher performs at once: more than one when a slow provider (a
    # webhook receiver) must not hold up the others.
    effect_concurrency: int = 1


def build_consumer(spec: ConsumerSpec, settings: ServiceSettings, **options: Any) -> EventConsumer:
    """Create the spec's tables (and the effects table, which its handlers write in the
    consumer's transaction), then the consumer; `options` go to EventConsumer."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        if spec.setup is not None:
            spec.setup(conn)
        if spec.effects:
            create_effects_table(conn)
    return EventConsumer(
        settings.kafka_bootstrap_servers,
        spec.topics,
        group_id=spec.group_id or spec.name,
        handlers=spec.handlers,
        database=settings.database_url,
        name=spec.name,
        timeouts=GroupTimeouts.from_settings(settings),
        partitions=settings.kafka_partitions,
        topic_management=settings.kafka_topic_management,
        **options,
    )


class ConsumerProcess:
    """A consumer, its effect dispatcher and its status report, run and stopped together."""

    def __init__(self, spec: ConsumerSpec, settings: ServiceSettings, **options: Any) -> None:
        self.spec = spec
        self.consumer = build_consumer(spec, settings, **options)
        self.dispatcher = (
            EffectDispatcher(
                settings.database_url,
                spec.effects,
                name=spec.name,
                concurrency=spec.effect_concurrency,
            )
            if spec.effects
            else None
        )
        self.settings = settings

    def checks(self) -> dict[str, Check]:
        """What /readyz checks: the database answers, and the consumer is current."""
        return {
            "postgres": postgres_check(self.settings.database_url),
            "consumer": self._check_current,
            **self.spec.checks,
        }

    def _check_current(self) -> None:
        if not self.consumer.caught_up:
            raise RuntimeError("catching up with its partitions")
        if self.spec.max_staleness_seconds is not None:
            check_staleness(self.consumer.lag_seconds, self.spec.max_staleness_seconds)

    def stop(self) -> None:
        """Let the consumer finish its message and the dispatcher its batch; `run` returns."""
        self.consumer.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()

    async def run(self, ops_port: int | None = None) -> None:
        """Run until `stop()` (or until the consumer or dispatcher fails, which stops the
        other and is raised); serve the ops endpoints on `ops_port` if given."""
        workers = [asyncio.create_task(self.consumer.run(), name=f"{self.spec.name}-consumer")]
        if self.dispatcher is not None:
            workers.append(
                asyncio.create_task(self.dispatcher.run(), name=f"{self.spec.name}-effects")
            )
        helpers = []
        if self.spec.report_status is not None:
            helpers.append(asyncio.create_task(self._report_status(self.spec.report_status)))
        ops_name = f"{self.spec.name}-consumer"
        try:
            async with serving_ops(ops_name, ops_port, self.checks(), host=self.settings.ops_host):
                await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
                self.stop()
                outcomes = await asyncio.gather(*workers, return_exceptions=True)
        finally:
            self.stop()
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _report_status(self, report: StatusReport) -> None:
        def once() -> None:
            url = self.settings.database_url
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                report(conn, self.consumer)

        while True:
            try:
                await asyncio.to_thread(once)
            except psycopg.OperationalError as exc:
                log.warning("%s: could not record its status: %s", self.spec.name, exc)
            await asyncio.sleep(STATUS_INTERVAL)


def run_consumer(spec: ConsumerSpec, settings: ServiceSettings) -> None:
    """Run the consumer of `spec` until SIGTERM or SIGINT: the body of its `main()`."""
    configure_logging(settings.log_level)
    ops_port = int(os.environ.get(spec.ops_port_env, str(DEFAULT_OPS_PORT)))
    process = ConsumerProcess(spec, settings)
    log.info("%s: consuming %s", spec.name, spec.topics)
    asyncio.run(until_signalled(process.run(ops_port), process.stop))
