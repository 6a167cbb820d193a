"""A fire reported by SMS or e-mail: the acknowledgement, the first answer on those channels,
leads with the 119 advice; a past fire's acknowledgement does not."""

from __future__ import annotations

from collections.abc import Callable

from intake.runtime import Runtime
from notifier.service import Notifier
from tests.notifier.conftest import Recorder
from tests.notifier.helpers import new_ticket

MakeNotifier = Callable[[dict[str, Recorder]], Notifier]
FIRE = "我家对面幸福路12号3楼着火了，烟很大，好像还有人在里面！"
PAST_FIRE = "去年冬天幸福路12号楼下着火了，到现在消防通道还被电动车堵着，请督促物业清理。"


async def test_sms_fire_gets_119_in_the_acknowledgement(
    nruntime: Runtime, make_notifier: MakeNotifier, senders: dict[str, Recorder]
) -> None:
    notifier = make_notifier(senders)
    fire = await new_ticket(nruntime, channel="sms", external_id="sms-fire", text=FIRE)
    past = await new_ticket(
        nruntime, channel="sms", external_id="sms-past", phone="+8613900001111", text=PAST_FIRE
    )
    assert past != fire
    await notifier.run_due()
    acks = {m.ticket_number: m for m in senders["sms"].sent if m.template == "ack"}
    assert acks[fire].text.startswith("您反映的情况可能属于紧急情况，请立即拨打119")
    assert fire in acks[fire].text
    assert "119" not in acks[past].text and past in acks[past].text


async def test_email_fire_gets_119_in_the_acknowledgement(
    nruntime: Runtime, make_notifier: MakeNotifier, senders: dict[str, Recorder]
) -> None:
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="email", external_id="<fire@x>", text=FIRE)
    await notifier.run_due()
    (ack,) = [m for m in senders["email"].sent if m.template == "ack"]
    assert "请立即拨打119" in ack.text and number in ack.text
