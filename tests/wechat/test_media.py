"""Voice and image media downloaded in the background into attachment storage, against the
fake WeChat API (media/get), a real Redis and the real pipeline."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from channels.wechat.api import WeChatApiClient, WeChatApiError
from channels.wechat.media import MediaFetcher
from intake.config import Settings
from intake.domain.messages import (
    Attachment,
    IdentityKind,
    InboundMessage,
    MessageKind,
    SenderIdentity,
)
from intake.domain.models import AttachmentRecord
from tests.wechat.service import Service, post, push_xml, wechat_service
from tests.wechat.wechat_fake_api import APP_ID, FakeServer, FakeWeChat

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("backend", ["sqlite"])]
AMR = b"#!AMR\n" + bytes(range(256)) * 8
MEDIA_GET = "/cgi-bin/media/get"


@pytest.fixture
async def svc(
    settings: Settings, fake_server: FakeServer, fake_wechat: FakeWeChat
) -> AsyncIterator[Service]:
    async with wechat_service(settings, api_base=fake_server.base_url, fetch_media=True) as s:
        yield s


def voice(media_id: str, msg_id: str, text: str = "楼下烧烤店油烟太大了") -> str:
    body = (
        f"<MediaId><![CDATA[{media_id}]]></MediaId><Format><![CDATA[amr]]></Format>"
        f"<Recognition><![CDATA[{text}]]></Recognition>"
    )
    return push_xml("voice", body, msg_id=msg_id)


async def rows(svc: Service, media_id: str) -> list[AttachmentRecord]:
    async with svc.runtime.db.read() as session:
        found = await session.scalars(
            select(AttachmentRecord).where(AttachmentRecord.media_id == media_id)
        )
        return list(found)


async def until_row(svc: Service, media_id: str) -> None:
    deadline = time.monotonic() + 10
    while not await rows(svc, media_id):
        assert time.monotonic() < deadline, "the pipeline did not write the attachment"
        await asyncio.sleep(0.05)


def fetcher(svc: Service, now: list[float]) -> MediaFetcher:
    """The connector's fetcher, with a clock the test moves instead of sleeping."""
    sender = svc.connector.sender()
    clients = sender.clients  # type: ignore[union-attr]
    return MediaFetcher(
        redis=svc.runtime.redis.client,
        keys=svc.runtime.redis.keys,
        clients=clients,
        store=svc.runtime.attachments,
        db=svc.runtime.db,
        max_bytes=1_000_000,
        clock=lambda: now[0],
    )


async def test_voice_is_stored_once_and_its_attachment_points_at_it(
    svc: Service, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.media["mv9"] = (AMR, "audio/amr")
    reply = await post(svc.client, voice("mv9", "501"))
    assert "工单编号" in reply  # the reply did not wait for the download
    await post(svc.client, voice("mv9", "501"))  # WeChat's retry queues nothing more
    await until_row(svc, "mv9")
    media = svc.connector.media
    assert media is not None
    assert await media.run_once() == 1
    assert await media.run_once() == 0
    [row] = await rows(svc, "mv9")
    assert row.sha256 == hashlib.sha256(AMR).hexdigest() and row.size == len(AMR)
    assert row.storage_key and svc.runtime.attachments.path_of(row.storage_key).read_bytes() == AMR
    assert row.content_type == "audio/amr"
    assert [c["query"]["media_id"] for c in fake_wechat.calls if c["path"] == MEDIA_GET] == ["mv9"]


async def test_media_waits_for_its_attachment_row_without_downloading_again(
    svc: Service, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.media["mi7"] = (b"\xff\xd8jpeg", "image/jpeg")
    now = [time.time()]
    media = fetcher(svc, now)
    message = InboundMessage(
        channel="wechat",
        external_id="777",
        sender=SenderIdentity(IdentityKind.WECHAT, "o_user7", account=APP_ID),
        kind=MessageKind.IMAGE,
        received_at=datetime.now(UTC),
        attachments=(Attachment("wechat-image-777", "image/jpeg", media_id="mi7"),),
    )
    await media.enqueue(message)
    assert await media.run_once() == 0  # downloaded, but no ticket row yet
    assert await media.run_once() == 0  # backing off: not due
    await svc.runtime.gateway.submit(message)
    await until_row(svc, "mi7")
    now[0] += 6
    assert await media.run_once() == 1
    [row] = await rows(svc, "mi7")
    assert row.size == 6 and row.storage_key
    assert len([c for c in fake_wechat.calls if c["path"] == MEDIA_GET]) == 1


async def test_unknown_media_is_given_up_and_the_media_id_kept(
    svc: Service, fake_wechat: FakeWeChat
) -> None:
    await post(svc.client, voice("gone", "502"))
    await until_row(svc, "gone")
    media = svc.connector.media
    assert media is not None
    assert await media.run_once() == 0
    [row] = await rows(svc, "gone")
    assert row.storage_key is None and row.media_id == "gone"
    queue = f"{svc.runtime.redis.keys.prefix}wechat:media:queue"
    assert await svc.runtime.redis.client.zcard(queue) == 0


async def test_media_get_refreshes_a_stale_token_and_bounds_the_size(
    svc: Service, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.media["big"] = (AMR, "audio/amr")
    client: WeChatApiClient = svc.connector.sender().clients[APP_ID]  # type: ignore[union-attr]
    await client.access_token()
    fake_wechat.expire_current_token()
    data, kind = await client.get_media("big", max_bytes=len(AMR))
    assert data == AMR and kind == "audio/amr" and fake_wechat.token_fetches() == 2
    with pytest.raises(WeChatApiError) as too_large:
        await client.get_media("big", max_bytes=100)
    assert too_large.value.errcode == -3
    with pytest.raises(WeChatApiError) as unknown:
        await client.get_media("nope", max_bytes=100)
    assert unknown.value.errcode == 40007
