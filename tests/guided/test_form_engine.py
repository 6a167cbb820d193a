"""The engine on its own, against a real Redis: a form's steps, files, skips, cancel, the one
message it is filed as, a retried message, and the catalogue as an operator overrides it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from intake.config import CatalogSettings
from intake.domain.emergency_advice import EmergencyAdvice
from intake.domain.enums import RequestType
from intake.domain.errors import ConfigurationError
from intake.domain.messages import (
    Attachment,
    IdentityKind,
    InboundMessage,
    Location,
    MessageKind,
    SenderIdentity,
)
from intake.guided import FORM, DraftStore, GuidedCatalogue, GuidedRequests, Step
from intake.guided.catalogue import operator_copy
from intake.interfaces import Receipt
from intake.redis.keys import Keys
from tests.conftest import REDIS_URL

CATALOGUE = GuidedCatalogue.load()
CHAT = "4242"


class Gateway:
    """Records what the engine files and numbers it, as the core's gateway does."""

    def __init__(self) -> None:
        self.filed: dict[str, InboundMessage] = {}

    async def submit(self, message: InboundMessage, *, open_ticket: bool = False) -> Receipt:
        assert open_ticket, "a guided request is filed as a new ticket"
        first = message.external_id not in self.filed
        self.filed.setdefault(message.external_id, message)
        number = f"2026120600{list(self.filed).index(message.external_id) + 1:03d}"
        fire = EmergencyAdvice("119", "消防救援", "请立即拨打119", "fire")
        advice = fire if "着火" in message.text else None
        return Receipt("1-0", not first, number, "7KQ2MZ9P", advice)


@pytest.fixture
async def redis(redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
def gateway() -> Gateway:
    return Gateway()


@pytest.fixture
def engine(redis: aioredis.Redis, redis_prefix: str, gateway: Gateway) -> GuidedRequests:
    keys = Keys(prefix=redis_prefix)
    return GuidedRequests(
        catalogue=CATALOGUE,
        store=DraftStore(redis, keys, channel="telegram"),
        gateway=gateway,
        clock=lambda: datetime(2026, 12, 6, 9, 0, tzinfo=UTC),
        channel="telegram",
        timeout_s=86_400,
        language="both",
    )


_ids = iter(range(1000, 10_000))


def msg(
    text: str = "",
    *,
    kind: MessageKind = MessageKind.TEXT,
    location: Location | None = None,
    attachments: tuple[Attachment, ...] = (),
    fields: dict[str, object] | None = None,
) -> InboundMessage:
    return InboundMessage(
        channel="telegram",
        external_id=str(next(_ids)),
        sender=SenderIdentity(IdentityKind.TELEGRAM, CHAT, display_name="Li Lei"),
        kind=kind,
        received_at=datetime(2026, 12, 6, 8, 59, tzinfo=UTC),
        text=text,
        location=location,
        attachments=attachments,
        raw={"update_id": 1},
        fields=fields or {},
    )


PHOTO = Attachment("p.jpg", "image/jpeg", 10, storage_key="ab/cd")


async def answer(engine: GuidedRequests, message: InboundMessage) -> Step:
    """The step a message inside an open form gets (never None there)."""
    step = await engine.on_message(message)
    assert step is not None
    return step


async def test_a_form_asks_each_step_and_files_one_message(
    engine: GuidedRequests, gateway: Gateway
) -> None:
    first = await engine.start_form(msg("/new"))
    assert first.asking == "type" and first.text is not None and "Please choose" in first.text
    assert (await answer(engine, msg("鼓励一下"))).text == engine.say_form("type_again")
    step = await engine.on_message(msg("投诉 Complaint"))
    assert step is not None and step.asking == "text"
    step = await engine.on_message(msg(kind=MessageKind.IMAGE, attachments=(PHOTO,)))
    assert step is not None and step.notes == (engine.say_form("attached", count=1),)
    assert step.text is None and step.asking == "text"  # still waiting for the description
    step = await engine.on_message(msg("楼下烧烤店油烟扰民"))
    assert step is not None and step.asking == "place" and "Where is it?" in (step.text or "")
    place = Location(31.23, 121.47, "人民广场")
    step = await engine.on_message(msg(kind=MessageKind.LOCATION, location=place))
    assert step is not None and step.asking == "phone"
    assert (await answer(engine, msg("随便说点什么"))).asking == "phone"
    vouched = {"contact_phone": "+8613812345678", "contact_phone_vouched": True}
    done = await engine.on_message(msg(kind=MessageKind.UNKNOWN, fields=vouched))
    assert done is not None and done.filed is not None and done.number is not None
    assert done.asking is None and await engine.asking(msg().sender) is None
    filed = gateway.filed[done.filed]
    assert filed.text == "楼下烧烤店油烟扰民" and filed.fields["request_type"] == "complaint"
    assert filed.vouched_phone == "+8613812345678" and filed.location == place
    assert [a.storage_key for a in filed.attachments] == ["ab/cd"]
    assert filed.sender.display_name == "Li Lei" and filed.channel == "telegram"


async def test_caption_describes_and_skips_count_as_answers(
    engine: GuidedRequests, gateway: Gateway
) -> None:
    await engine.start_form(msg("/new"))
    await engine.on_message(msg("建议"))
    step = await engine.on_message(
        msg("路面塌陷了一个大坑", kind=MessageKind.IMAGE, attachments=(PHOTO,))
    )
    assert step is not None and step.asking == "place" and len(step.notes) == 1
    too_large = await engine.on_message(msg(kind=MessageKind.IMAGE))  # the channel gave up
    assert too_large is not None and too_large.notes == (engine.say_form("too_large"),)
    assert (await answer(engine, msg("人民路88号门口"))).asking == "phone"
    done = await engine.on_message(msg("跳过"))
    assert done is not None and done.filed is not None
    filed = gateway.filed[done.filed]
    assert filed.text == "路面塌陷了一个大坑" and filed.fields["request_type"] == "suggestion"
    assert (
        filed.location == Location(label="人民路88号门口") and "contact_phone" not in filed.fields
    )


async def test_cancel_and_a_retried_message(engine: GuidedRequests, gateway: Gateway) -> None:
    await engine.start_form(msg("/new"))
    choose = msg("求助 Help")
    once = await engine.on_message(choose)
    assert await engine.on_message(choose) == once  # the same answer, nothing moved twice
    assert await engine.asking(choose.sender) == "text"
    cancelled = await engine.on_message(msg("取消 Cancel"))
    assert cancelled is not None and cancelled.text == engine.say_form("cancelled")
    assert cancelled.asking is None and await engine.asking(choose.sender) is None
    assert await engine.on_message(msg("路灯坏了")) is None  # no form: the core's message
    assert gateway.filed == {}


async def test_an_emergency_in_a_form_carries_its_advice(engine: GuidedRequests) -> None:
    await engine.start_form(msg("/new"))
    for answer in ("求助", "楼道里着火了", "跳过"):
        await engine.on_message(msg(answer))
    done = await engine.on_message(msg("skip"))
    assert done is not None and done.emergency is not None and done.emergency["number"] == "119"


async def test_forms_are_kept_a_day_and_never_swept(
    engine: GuidedRequests, redis: aioredis.Redis, redis_prefix: str
) -> None:
    await engine.start_form(msg("/new"))
    keys = Keys(prefix=redis_prefix)
    ttl = await redis.ttl(keys.guided_draft("telegram", "", CHAT))
    assert 86_000 < ttl <= 86_400
    assert await redis.zcard(keys.guided_deadlines("telegram")) == 0
    assert await engine.file_overdue() == 0


def test_english_and_both_languages() -> None:
    wording = CATALOGUE.form.texts["phone_invalid"]
    assert wording.render("zh") == "这个号码无法识别，请重试或跳过。"
    assert wording.render("en") == "This number is not valid; try again or skip."
    assert wording.render("both") == f"{wording.zh} / {wording.en}"
    assert CATALOGUE.texts["ask_place"].render("en", minutes=10).startswith("Where exactly")
    assert CATALOGUE.form.labels["skip"].label() == "跳过 Skip"
    assert CATALOGUE.form.request_type_of("Complaint") is RequestType.COMPLAINT
    assert CATALOGUE.form.request_type_of("投诉 complaint") is not None
    assert CATALOGUE.form.request_type_of("随便") is None
    assert FORM == "form"


def test_an_operator_copy_replaces_only_its_sections(tmp_path: Path) -> None:
    """A copy written for the WeChat dialog of old (texts as plain strings, no form section)
    keeps the shipped form; a copy with a chat rule that asks for a type is refused."""
    copy = tmp_path / "guided.yaml"
    copy.write_text(
        "rules: [{id: noise, keywords: [噪音], needs: [phone]}]\n"
        "texts: {ask_text: 说吧, ask_place: 在哪, ask_phone: 电话, phone_invalid: 不对,"
        " cancelled: 好的, nothing_to_file: 没有}\n",
        encoding="utf-8",
    )
    edited = GuidedCatalogue.load(copy)
    assert edited.rule_for("工地噪音") is not None and edited.rule_for("路灯坏了") is None
    assert edited.texts["ask_phone"].render("both") == "电话"  # no English: Chinese alone
    assert edited.texts["too_many"].zh.startswith("您提交的诉求过于频繁")
    assert edited.form == CATALOGUE.form and edited.place_patterns == CATALOGUE.place_patterns
    copy.write_text("rules: [{id: x, keywords: [a], needs: [type]}]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="unknown needs"):
        GuidedCatalogue.load(copy)
    copy.write_text("form: {needs: [type], labels: {}}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="labels missing"):
        GuidedCatalogue.load(copy)


def test_the_operator_copy_is_found_beside_the_other_texts(tmp_path: Path) -> None:
    assert operator_copy(CatalogSettings()) is None
    assert operator_copy(CatalogSettings(replies_file=tmp_path)) is None  # no copy there
    beside = tmp_path / "guided.yaml"
    beside.write_text("max_asks: 1\n", encoding="utf-8")
    assert operator_copy(CatalogSettings(replies_file=tmp_path)) == beside
    assert GuidedCatalogue.load(beside).max_asks == 1
    own = tmp_path / "mine.yaml"
    assert operator_copy(CatalogSettings(replies_file=tmp_path, guided_file=own)) == own
