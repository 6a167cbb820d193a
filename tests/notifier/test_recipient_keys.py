"""The per-recipient rate limit counts a citizen without writing their phone into Redis."""

from __future__ import annotations

from collections.abc import Callable

from intake.runtime import Runtime
from notifier.service import Notifier
from tests.notifier.conftest import Recorder
from tests.notifier.helpers import EMAIL, PHONE, new_ticket

MakeNotifier = Callable[..., Notifier]


async def test_no_phone_or_address_in_key_names(
    nruntime: Runtime, make_notifier: MakeNotifier, senders: dict[str, Recorder]
) -> None:
    notifier = make_notifier(senders)
    await new_ticket(nruntime, channel="sms", external_id="s1")
    await new_ticket(nruntime, channel="email", external_id="e1", phone=None)
    await notifier.run_due()
    assert senders["sms"].sent and senders["email"].sent
    client, prefix = nruntime.redis.client, nruntime.redis.keys.prefix
    names = [str(k) async for k in client.scan_iter(match=f"{prefix}*")]
    buckets = [name for name in names if ":bucket:to:" in name]
    assert {name.split(":bucket:to:")[1].split(":")[0] for name in buckets} == {"sms", "email"}
    for name in names:
        assert PHONE[3:] not in name and EMAIL not in name, name
