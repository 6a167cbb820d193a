"""Pure parts: the state machine, the normalized message, phones, settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from intake.config import load_settings
from intake.domain.enums import Role, TicketStatus
from intake.domain.errors import ConfigurationError, Forbidden, InvalidInput, InvalidTransition
from intake.domain.lifecycle import Action, available_actions, check_role, next_status
from intake.domain.messages import (
    Attachment,
    IdentityKind,
    InboundMessage,
    Location,
    MessageKind,
    SenderIdentity,
)
from intake.domain.phones import mask_phone, normalize_mainland_mobile

S = TicketStatus


@pytest.mark.parametrize(
    ("action", "current", "expected"),
    [
        (Action.ACCEPT, S.RECEIVED, S.ACCEPTED),
        (Action.ACCEPT, S.DISPATCHED, S.IN_PROGRESS),
        (Action.DISPATCH, S.ACCEPTED, S.DISPATCHED),
        (Action.DISPATCH, S.RETURNED, S.DISPATCHED),
        (Action.RETURN, S.IN_PROGRESS, S.RETURNED),
        (Action.REPLY, S.IN_PROGRESS, S.REPLIED),
        (Action.CLOSE, S.REPLIED, S.CLOSED),
        (Action.CLOSE, S.ACCEPTED, S.CLOSED),
        (Action.REOPEN, S.CLOSED, S.REOPENED),
        (Action.EXTEND, S.IN_PROGRESS, S.IN_PROGRESS),
        (Action.NOTE, S.CLOSED, S.CLOSED),
    ],
)
def test_transitions(action: Action, current: TicketStatus, expected: TicketStatus) -> None:
    assert next_status(action, current) is expected


@pytest.mark.parametrize(
    ("action", "current"),
    [
        (Action.CLOSE, S.RECEIVED),
        (Action.CLOSE, S.DISPATCHED),
        (Action.REOPEN, S.RECEIVED),
        (Action.RETURN, S.ACCEPTED),
        (Action.DISPATCH, S.CLOSED),
        (Action.ACCEPT, S.CLOSED),
        (Action.EXTEND, S.RECEIVED),
    ],
)
def test_refused_transitions(action: Action, current: TicketStatus) -> None:
    with pytest.raises(InvalidTransition, match=current.value):
        next_status(action, current)


def test_roles() -> None:
    check_role(Action.RETURN, Role.HANDLER)
    with pytest.raises(Forbidden):
        check_role(Action.DISPATCH, Role.HANDLER)
    with pytest.raises(Forbidden):
        check_role(Action.APPROVE_EXTENSION, Role.AGENT)
    assert "close" in available_actions(S.REPLIED, Role.AGENT)
    assert "close" not in available_actions(S.REPLIED, Role.HANDLER)


def test_message_round_trip_keeps_everything() -> None:
    message = InboundMessage(
        channel="email",
        external_id="<a@b>",
        sender=SenderIdentity(
            kind=IdentityKind.EMAIL, value="a@b.cn", account="hotline", display_name="李四"
        ),
        kind=MessageKind.TEXT,
        received_at=datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
        text="你好",
        attachments=(Attachment(filename="图.png", content_type="image/png", size=3),),
        location=Location(latitude=39.9, longitude=116.4, label="东城区"),
        thread_ref="x",
        raw=b"\xff\x00raw bytes",
        fields={"contact_phone": "+8613800000000"},
    )
    assert InboundMessage.from_dict(message.to_dict()) == message
    assert message.idempotency_key == "email:<a@b>"


def test_phones() -> None:
    assert normalize_mainland_mobile("138 1234 5678") == "+8613812345678"
    assert normalize_mainland_mobile("+86-138-1234-5678") == "+8613812345678"
    for bad in ("12345", "010-65550000", "+14155550100", "abc"):
        with pytest.raises(InvalidInput):
            normalize_mainland_mobile(bad)
    assert mask_phone("+8613812345678") == "+86138****5678"


def test_default_secret_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_ENVIRONMENT", "production")
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("INTAKE_SECRET_KEY", "s3cret-for-prod-" + "x" * 16)
    assert load_settings().environment == "production"


def test_config_file_and_nested_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "intake.toml"
    path.write_text(
        'public_url = "https://12345.example.cn"\n[pipeline]\nbatch_size = 7\n', encoding="utf-8"
    )
    monkeypatch.setenv("INTAKE_CONFIG_FILE", str(path))
    monkeypatch.setenv("INTAKE_PIPELINE__MAX_ATTEMPTS", "9")
    settings = load_settings()
    assert settings.public_url == "https://12345.example.cn"
    assert settings.pipeline.batch_size == 7 and settings.pipeline.max_attempts == 9


def test_query_codes_use_the_whole_alphabet_and_never_repeat_in_practice() -> None:
    from collections import Counter

    from intake.ingest.gateway import QUERY_CODE_ALPHABET, QUERY_CODE_LENGTH, new_query_code

    codes = [new_query_code() for _ in range(20_000)]
    assert len(set(codes)) == len(codes)
    assert all(len(c) == QUERY_CODE_LENGTH and set(c) <= set(QUERY_CODE_ALPHABET) for c in codes)
    counts = Counter("".join(codes))
    expected = len(codes) * QUERY_CODE_LENGTH / len(QUERY_CODE_ALPHABET)
    assert set(counts) == set(QUERY_CODE_ALPHABET)
    assert all(abs(n - expected) < expected * 0.1 for n in counts.values())  # no skewed symbol


@pytest.mark.parametrize(
    ("database", "cores", "processes", "placement", "children"),
    [
        ("sqlite", 2, 1, "auto", 1),  # a core of its own beside HTTP
        ("postgres", 2, 1, "auto", 1),
        ("postgres", 1, 1, "auto", 0),  # no second core to give it
        ("sqlite", 1, 1, "auto", 0),
        ("postgres", 2, 1, "inside", 0),
        ("sqlite", 1, 1, "child", 1),
        ("postgres", 2, 2, "auto", 2),
        ("postgres", 2, 3, "inside", 3),  # several pipelines are always child processes
    ],
)
def test_where_intake_run_puts_its_pipeline(
    monkeypatch: pytest.MonkeyPatch,
    database: str,
    cores: int,
    processes: int,
    placement: str,
    children: int,
) -> None:
    from service import child_workers

    monkeypatch.setattr(child_workers, "_usable_cores", lambda: cores)
    url = "postgresql+asyncpg://127.0.0.1/x" if database == "postgres" else None
    settings = load_settings(
        database_url=url, pipeline={"processes": processes, "placement": placement}
    )
    assert child_workers.pipeline_children(settings) == children


def test_an_unknown_pipeline_placement_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="placement"):
        load_settings(pipeline={"placement": "elsewhere"})
