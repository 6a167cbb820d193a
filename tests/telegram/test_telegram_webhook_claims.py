"""A webhook update whose handling was cut off (Redis went away before the claim could be
released) is handled when Telegram sends it again, not skipped as a repeat; one being handled
right now is answered 503, so that Telegram tries later; one handled before is skipped."""

from __future__ import annotations

from channels.telegram.gate import HANDLING_TTL_S
from tests.telegram import updates as u
from tests.telegram.conftest import Service
from tests.telegram.updates import CITIZEN


def _claim_key(service: Service, update_id: int) -> str:
    bot_id = service.connector.app.settings.bot_id
    return service.runtime.redis.keys.telegram_update(bot_id, update_id)


async def test_an_update_left_claimed_by_a_cut_off_try_is_handled_on_a_later_retry(
    service: Service,
) -> None:
    update = u.text("/start")
    key = _claim_key(service, update["update_id"])
    redis = service.runtime.redis.client
    # what a try cut off by a Redis restart leaves: the claim, never released nor finished
    await redis.set(key, "handling", ex=HANDLING_TTL_S)

    busy = await service.post(update)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == str(HANDLING_TTL_S)
    assert service.fake.texts(CITIZEN) == []

    await redis.expire(key, 0)  # the claim runs out by itself
    assert (await service.post(update)).status_code == 200
    assert len(service.fake.texts(CITIZEN)) == 1
    assert await redis.get(key) == "done"
    assert await redis.ttl(key) > HANDLING_TTL_S  # remembered for the whole dedupe window


async def test_an_update_handled_before_is_skipped(service: Service) -> None:
    update = u.text("/start")
    assert (await service.post(update)).status_code == 200
    assert (await service.post(update)).status_code == 200
    assert len(service.fake.texts(CITIZEN)) == 1
