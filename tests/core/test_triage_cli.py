"""`intake triage …`: train, eval, models, activate, rollback, and workers that follow."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from intake.config import Settings
from intake.domain.models import Ticket, TicketEvent
from intake.runtime import Runtime
from intake.triage.learned.files import load_info
from intake.triage.learned.source import SHIPPED
from tests.core.helpers import drain, request_body
from tests.core.test_cli import _cli
from tests.triage.learned_data import small_rows, write_csv


async def _model_of_next_ticket(client: httpx.AsyncClient, runtime: Runtime) -> str | None:
    response = await client.post("/api/v1/requests", json=request_body())
    await drain(runtime)
    async with runtime.db.read() as session:
        data = await session.scalar(
            select(TicketEvent.data)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(Ticket.number == response.json()["number"], TicketEvent.kind == "triaged")
        )
    return None if data is None else data.get("model_version")


# the commands touch no database (but --from-corrections, tested in test_categorize.py)
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


async def test_train_eval_models_activate_rollback(settings: Settings, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "history.csv", small_rows())
    trained = _cli("triage", "train", str(data), settings=settings)
    assert trained.returncode == 0, trained.stderr
    first = trained.stdout.split()[1]
    assert "category accuracy" in trained.stdout and "main confusions" in trained.stdout
    assert (settings.data_dir / "triage" / "models" / first / "model.npz").exists()
    evaluated = _cli("triage", "eval", str(data), settings=settings)
    assert evaluated.returncode == 0 and f"model {first}" in evaluated.stdout
    assert "precision" in evaluated.stdout and "keyword rules alone" in evaluated.stdout
    second = _cli("triage", "train", str(data), settings=settings).stdout.split()[1]
    listed = _cli("triage", "models", settings=settings).stdout.splitlines()
    assert [line.split()[:2] for line in listed if line.startswith("*")] == [["*", second]]
    assert len(listed) == 3 and "default" in listed[0]
    rolled = _cli("triage", "rollback", settings=settings)
    assert rolled.returncode == 0 and rolled.stdout.strip() == f"active: {first}"
    assert _cli("triage", "activate", second, settings=settings).returncode == 0
    assert _cli("triage", "activate", "default", settings=settings).returncode == 0
    listed = _cli("triage", "models", settings=settings).stdout.splitlines()
    assert listed[0].startswith("* default")


async def test_bad_arguments_say_one_line_and_exit_2(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "text,category\n停车场收费太贵,parking\n油烟,cooking-fumes\n卡拉OK,karaoke\n", "utf-8"
    )
    cases = [
        (("triage", "train", str(bad)), "labels not in the catalogue: karaoke, parking"),
        (("triage", "train"), "give a FILE"),
        (("triage", "train", str(tmp_path / "missing.csv")), "cannot read"),
        (("triage", "eval", str(bad)), "karaoke, parking"),
        (("triage", "activate", "20990101-000000"), "no model version"),
        (("triage", "rollback"), "no previously active model"),
    ]
    for args, message in cases:
        done = _cli(*args, settings=settings)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (settings.data_dir / "triage" / "models").exists() or not list(
        (settings.data_dir / "triage" / "models").glob("2*")
    )


async def test_a_running_worker_follows_the_active_model(
    settings: Settings, tmp_path: Path
) -> None:
    settings.triage.model_check_seconds = 0.05
    runtime = await Runtime.open(settings)
    try:
        from service.app import create_app

        transport = httpx.ASGITransport(app=create_app(settings, runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert await _model_of_next_ticket(client, runtime) == load_info(SHIPPED).version
            data = write_csv(tmp_path / "history.csv", small_rows())
            trained = await asyncio.to_thread(_cli, "triage", "train", str(data), settings=settings)
            assert trained.returncode == 0, trained.stderr
            version = trained.stdout.split()[1]
            deadline = time.monotonic() + 10
            while await _model_of_next_ticket(client, runtime) != version:
                assert time.monotonic() < deadline, "the worker kept the old model"
            await asyncio.to_thread(_cli, "triage", "rollback", settings=settings)
            deadline = time.monotonic() + 10
            while await _model_of_next_ticket(client, runtime) != load_info(SHIPPED).version:
                assert time.monotonic() < deadline, "the worker did not roll back"
    finally:
        await runtime.close()
