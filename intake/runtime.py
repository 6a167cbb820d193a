"""The running service's shared parts, opened once per process and passed around.

Nothing here is module-global: tests open as many runtimes as they like, each with its own
data folder, database and Redis key prefix.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from intake.catalog import Catalog
from intake.config import Settings
from intake.directory.departments import open_catalog
from intake.domain.clock import Clock, intake_day, utcnow
from intake.domain.models import Ticket
from intake.ingest.attachments import AttachmentStore
from intake.ingest.gateway import SEQUENCE_DIGITS, Gateway
from intake.interfaces import PromptAnswers
from intake.pipeline.worker import PipelineWorker
from intake.ratelimit.attempts import Limiter
from intake.redis.connection import RedisHandle, open_redis
from intake.secret_key import resolve_secret_key
from intake.storage.database import Database, open_database
from intake.storage.migrate import upgrade
from intake.storage.outbox import OutboxRelay
from intake.triage.alarm import alarm_for
from intake.triage.kit import TriageFiles, TriageKit
from intake.triage.learned.store import models_folder

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: RedisHandle
    gateway: Gateway
    relay: OutboxRelay
    catalog: Catalog
    attachments: AttachmentStore
    secret_key: str = field(repr=False)  # signs rating links; see intake/secret_key.py
    limiter: Limiter  # the limits on attempts (intake/ratelimit/)
    triage: TriageKit | None = None
    clock: Clock = field(default=utcnow)
    # the notifier's surveys and rating prompts, plugged in by the composition root
    answers: PromptAnswers | None = None

    @classmethod
    async def open(
        cls, settings: Settings, *, migrate: bool = True, clock: Clock = utcnow
    ) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret_key = resolve_secret_key(settings)
        catalog = Catalog.load(settings.catalog.departments_file)
        db = open_database(settings)
        redis: RedisHandle | None = None
        try:  # a server that is not there yet leaves nothing open behind
            if migrate:
                await upgrade(db.engine)
            # departments live in the database from the first start on (seeded from the file)
            catalog = await open_catalog(db, departments_file=settings.catalog.departments_file)
            redis = await open_redis(settings)
            gateway = Gateway(
                redis=redis.client,
                keys=redis.keys,
                receipt_ttl_days=settings.web.receipt_ttl_days,
                clock=clock,
            )
            relay = OutboxRelay(db=db, redis=redis.client, keys=redis.keys)
            runtime = cls(
                settings=settings,
                db=db,
                redis=redis,
                gateway=gateway,
                relay=relay,
                catalog=catalog,
                clock=clock,
                attachments=AttachmentStore(settings.data_dir / "attachments"),
                secret_key=secret_key,
                limiter=Limiter(redis, settings.limits, secret=secret_key),
                triage=await asyncio.to_thread(load_triage, settings, clock()),
            )
            gateway.alarm = alarm_for(runtime.triage)
            await runtime.seed_sequence()
        except BaseException:
            await db.dispose()
            if redis is not None:
                await redis.close()
            raise
        return runtime

    async def close(self) -> None:
        await self.db.dispose()
        await self.redis.close()

    def pipeline_worker(
        self, *, consumer: str | None = None, beside_http: bool = False
    ) -> PipelineWorker:
        return PipelineWorker(
            db=self.db,
            redis=self.redis,
            gateway=self.gateway,
            relay=self.relay,
            settings=self.settings.pipeline,
            clock=self.clock,
            consumer=consumer,
            triage=self.triage,
            answers=self.answers,
            beside_http=beside_http,
            secret=self.secret_key,
        )

    async def seed_sequence(self) -> None:
        """Continue today's numbers after the database's highest, whatever Redis remembers."""
        day = intake_day(self.clock())
        async with self.db.read() as session:
            highest = await session.scalar(
                select(Ticket.number)
                .where(Ticket.number.like(f"{day}%"))
                .order_by(func.length(Ticket.number).desc(), Ticket.number.desc())
                .limit(1)
            )
        floor = int(highest[len(day) :]) if highest else 0
        current = await self.gateway.raise_sequence_floor(day=day, floor=floor)
        log.info("ticket sequence for %s continues after %0*d", day, SEQUENCE_DIGITS, current)


def load_triage(settings: Settings, today: datetime) -> TriageKit | None:
    config = settings.triage
    if not config.enabled:
        log.warning("triage is disabled: tickets wait for a human without classification")
        return None
    files = TriageFiles(
        emergency=config.emergency_file,
        out_of_scope=config.out_of_scope_file,
        request_types=config.request_types_file,
        categories=config.categories_file,
        kb=config.kb_file,
        gazetteer=config.gazetteer_file,
        custom_dict=config.custom_dict_file,
        departments=settings.catalog.departments_file,
        deadlines=config.deadlines_file,
        special_service=config.special_service_file,
        holidays_override=config.holidays_override_file,
        repeats=config.repeats_file,
        models=models_folder(settings.data_dir),
        learned=config.learned,
        model_check_seconds=config.model_check_seconds,
    )
    return TriageKit.load(files, today=today)
