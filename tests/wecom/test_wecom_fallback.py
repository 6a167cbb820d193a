"""When WeCom cannot carry a staff alert, the same alert goes by SMS through the real Kannel:
at once when WeCom says the user is invalid (permanent), and once WeCom's transient errors
have outlasted the retry policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from channels.sms.connector import build as build_sms
from channels.wecom.connector import build as build_wecom
from intake.config import Settings
from intake.directory.contacts import ContactChange, set_contact
from intake.domain.enums import Role
from intake.domain.lifecycle import Action
from intake.domain.models import Staff
from intake.runtime import Runtime
from intake.tickets.actions import ActionRequest, perform
from notifier.service import Notifier
from service.connectors import sms_parts, wecom_parts
from service.settings import service_settings
from service.wiring import notifier_parts, open_runtime
from tests.notifier.conftest import NOTIFY, FakeClock
from tests.notifier.helpers import events, new_ticket, staff
from tests.sms.kannel_peer import KannelRig, kannel_peer, texts_to
from tests.wecom.conftest import wecom_section
from tests.wecom.fake_wecom import FakeWeCom

__all__ = ["kannel_peer"]
pytestmark = pytest.mark.integration

USER = "lisi"
PHONE = "+8613812345678"


@dataclass
class Rig:
    runtime: Runtime
    notifier: Notifier
    fake: FakeWeCom
    kannel: KannelRig
    clock: FakeClock
    seen: int  # fakesmsc lines printed before this test (the gateway is shared)

    def texts(self) -> list[str]:
        return texts_to(self.kannel.peer.mt_lines[self.seen :], PHONE)

    async def sms(self, number: str, timeout: float = 15.0) -> str:
        def found() -> str | None:
            return next((t for t in self.texts() if number in t), None)

        for _ in range(int(timeout / 0.05)):
            text = found()
            if text:
                return text
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"no SMS about {number}; fakesmsc saw {self.kannel.peer.mt_lines[-3:]}"
        )


@pytest.fixture
async def rig(
    settings: Settings, fake_wecom: FakeWeCom, kannel_peer: KannelRig
) -> AsyncIterator[Rig]:
    clock = FakeClock()
    sms = {
        "provider": "kannel",
        "kannel_url": kannel_peer.peer.kannel_url,
        "kannel_user": kannel_peer.user,
        "kannel_password": kannel_peer.password,
        "inbound_secret": kannel_peer.secret,
        "sender": "12345",
        "public_url": kannel_peer.recorder.base_url,
    }
    configured = settings.model_copy(
        update={"notify": dict(NOTIFY), "sms": sms, "wecom": wecom_section(fake_wecom)}
    )
    runtime = await open_runtime(configured, clock=clock)
    sections = service_settings(runtime.settings)
    assert sections.wecom is not None and sections.sms is not None
    wecom = build_wecom(wecom_parts(runtime), sections.wecom)
    sms_connector = build_sms(sms_parts(runtime), sections.sms)
    assert wecom is not None and sms_connector is not None
    sms_sender = sms_connector.sender()
    assert sms_sender is not None
    notifier = Notifier(notifier_parts(runtime), {"wecom": wecom.sender(), "sms": sms_sender})
    try:
        seen = len(kannel_peer.peer.mt_lines)
        yield Rig(runtime, notifier, fake_wecom, kannel_peer, clock, seen)
    finally:
        await notifier.close()
        await wecom.aclose()
        await runtime.close()


async def _dispatched_to_handler(rig: Rig) -> str:
    handler_id, _ = await staff(rig.runtime, Role.HANDLER, "environment")
    agent_id, _ = await staff(rig.runtime, Role.AGENT)
    async with rig.runtime.db.write() as session, session.begin():
        change = ContactChange(wecom_userid=USER, phone=PHONE, prefer="wecom,sms")
        await set_contact(session, name=f"#{handler_id}", change=change)
    number = await new_ticket(rig.runtime, phone=None)
    async with rig.runtime.db.write() as session, session.begin():
        agent_row = await session.get(Staff, agent_id)
        assert agent_row is not None
        await perform(
            session,
            number=number,
            request=ActionRequest(action=Action.DISPATCH, department="environment"),
            staff=agent_row,
            catalog=rig.runtime.catalog,
            clock=rig.runtime.clock,
        )
    await rig.runtime.relay.flush()
    return number


async def test_invalid_wecom_user_falls_back_to_sms_at_once(rig: Rig) -> None:
    number = await _dispatched_to_handler(rig)  # the fake knows no "lisi": 81013
    await rig.notifier.run_due()
    text = await rig.sms(number)
    assert "新派工单" in text
    failed = await events(rig.runtime, number, "delivery_failed")
    assert any("wecom" in (e.text or "") + str(e.data) for e in failed)


async def test_transient_wecom_errors_outlast_the_retries_then_sms(rig: Rig) -> None:
    rig.fake.users.add(USER)
    rig.fake.fail(USER, *([-1] * 10))  # "system busy" every time
    number = await _dispatched_to_handler(rig)
    for _ in range(10):
        await rig.notifier.run_due()
        rig.clock.advance(minutes=15)
        if rig.texts():
            break
    text = await rig.sms(number)
    assert "新派工单" in text and rig.fake.to(USER) == []
    assert len(rig.fake.failures[USER]) == 10 - NOTIFY["max_attempts"]
