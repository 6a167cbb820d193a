"""The WeCom callback URL (`/channels/wecom`): URL verification and card button taps.

WeCom signs every call (`msg_signature` = SHA1 of the sorted token, timestamp, nonce and the
encrypted text) and encrypts the payload with the app's EncodingAESKey; the signature is
compared in constant time and stale timestamps are refused before anything is decrypted
(wechatpy's WeCom crypto does the AES). A tap on 受理 runs `intake.tickets.actions.perform` under
the
account whose contact names that WeCom user id, exactly as the Telegram staff buttons do, and
answers with an encrypted passive reply that turns the button into "已受理"; a tap on 查看
sends the ticket's detail to that user. Anyone WeCom does not name as one of our staff
changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

from intake.catalog import Catalog
from intake.domain.clock import Clock
from intake.domain.enums import RequestType, TicketStatus
from intake.domain.errors import Forbidden, IntakeError, InvalidInput
from intake.domain.lifecycle import Action
from intake.domain.models import Staff, Ticket
from intake.storage.database import Database
from intake.tickets.actions import ActionRequest, get_ticket, perform

from .sender import ACCEPT_KEY, OPEN_KEY
from .settings import WeComSettings

log = logging.getLogger(__name__)

DETAIL = (
    "工单 {number}（{status}）\n类型：{request_type}\n标题：{title}\n地址：{address}\n"
    "办理时限：{due}\n内容：{content}"
)
Flush = Callable[[int], Awaitable[None]]
TextSend = Callable[[str, str], Awaitable[None]]


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def parse_xml(body: bytes | str, *, max_bytes: int) -> dict[str, str]:
    """The flat `<xml>` of a WeCom envelope or event; no DTD, no entities, bounded size."""
    data = body.encode() if isinstance(body, str) else body
    if len(data) > max_bytes:
        raise InvalidInput("wecom: body too large")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise Forbidden("wecom: forbidden xml construct") from None
    except (ParseError, ValueError):
        raise InvalidInput("wecom: malformed xml") from None
    return {child.tag: (child.text or "").strip() for child in root}


class CallbackCrypto:
    """Signature, freshness and AES for one app's callback."""

    def __init__(self, settings: WeComSettings, *, clock: Callable[[], float] = time.time):
        self._token = settings.token.get_secret_value()
        self._corp_id = settings.corp_id
        self._max_age = settings.max_timestamp_age
        self._clock = clock
        self._crypto = WeChatCrypto(self._token, settings.aes_key.get_secret_value(), self._corp_id)

    def open(self, params: Mapping[str, str], encrypted: str) -> str:
        """The plaintext of `encrypted`, once the signature and the timestamp are right."""
        given = params.get("msg_signature", "")
        timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
        if not (given and timestamp and nonce and encrypted):
            raise Forbidden("wecom: signature parameters missing")
        expected = signature(self._token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise Forbidden("wecom: bad signature")
        try:
            age = abs(self._clock() - int(timestamp))
        except ValueError:
            raise Forbidden("wecom: bad timestamp") from None
        if age > self._max_age:
            raise Forbidden("wecom: stale timestamp")
        try:
            plain = PrpCrypto(self._crypto.key).decrypt(encrypted, self._corp_id)
        except (InvalidCorpIdException, InvalidSignatureException, ValueError, UnicodeError):
            raise Forbidden("wecom: cannot decrypt for this corp") from None
        return plain.decode() if isinstance(plain, bytes) else str(plain)

    def seal(self, xml: str, nonce: str) -> str:
        return str(self._crypto.encrypt_message(xml, nonce, str(int(self._clock()))))


@dataclass(frozen=True)
class Tap:
    userid: str
    action: str  # "accept" | "open"
    number: str


def parse_tap(event: dict[str, str]) -> Tap | None:
    """A button tap on one of our cards, or None for any other message or event."""
    if event.get("MsgType") != "event" or event.get("Event") != "template_card_event":
        return None
    key = event.get("EventKey", "")
    for prefix, action in ((ACCEPT_KEY, "accept"), (OPEN_KEY, "open")):
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            return Tap(event.get("FromUserName", ""), action, key[len(prefix) :])
    return None


async def staff_for_userid(session: AsyncSession, userid: str) -> Staff | None:
    """The active account whose contact names this WeCom user id (ids are case-insensitive)."""
    if not userid:
        return None
    found = await session.scalars(select(Staff).where(Staff.active.is_(True)))
    matches = [
        s for s in found if str((s.contact or {}).get("wecom", "")).lower() == userid.lower()
    ]
    return matches[0] if len(matches) == 1 else None


def detail(ticket: Ticket) -> str:
    try:
        request_type = RequestType(ticket.request_type).label_zh
    except ValueError:
        request_type = ticket.request_type
    return DETAIL.format(
        number=ticket.number,
        status=TicketStatus(ticket.status).label_zh,
        request_type=request_type,
        title=ticket.title,
        address=ticket.address or "—",
        due=ticket.due_at.strftime("%Y-%m-%d %H:%M UTC") if ticket.due_at else "—",
        content=ticket.content,
    )[:1800]


def update_button_reply(event: dict[str, str], label: str) -> str:
    """WeCom's passive reply that replaces the tapped button's label for that user."""
    return (
        "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{me}]]></FromUserName>"
        "<CreateTime>{now}</CreateTime><MsgType><![CDATA[update_button]]></MsgType>"
        "<Button><ReplaceName><![CDATA[{label}]]></ReplaceName></Button></xml>"
    ).format(
        to=event.get("FromUserName", ""),
        me=event.get("ToUserName", ""),
        now=int(time.time()),
        label=label,
    )


class StaffActions:
    """What a tap does, through the same service functions as the staff API."""

    def __init__(self, *, db: Database, catalog: Catalog, clock: Clock, flush: Flush) -> None:
        self._db, self._catalog, self._clock, self._flush = db, catalog, clock, flush

    async def accept(self, userid: str, number: str) -> str:
        """The new button label: 已受理, or why not."""
        try:
            async with self._db.write() as session, session.begin():
                staff = await staff_for_userid(session, userid)
                if staff is None:
                    log.info("wecom tap from an unknown user on %s", number)
                    return "无权限"
                ticket = await perform(
                    session,
                    number=number,
                    request=ActionRequest(action=Action.ACCEPT),
                    staff=staff,
                    catalog=self._catalog,
                    clock=self._clock,
                )
                ticket_id, staff_id = ticket.id, staff.id
        except IntakeError as exc:
            log.info("wecom accept %s refused: %s", number, exc)
            return "无法受理"
        await self._flush(ticket_id)
        log.info("wecom accept ticket=%s by staff id=%s", number, staff_id)
        return "已受理"

    async def detail_for(self, userid: str, number: str) -> str | None:
        async with self._db.read() as session:
            staff = await staff_for_userid(session, userid)
            if staff is None:
                return None
            try:
                return detail(await get_ticket(session, number=number, staff=staff))
            except IntakeError as exc:
                return f"工单 {number}：{exc}"[:200]


def event_of(
    crypto: CallbackCrypto, params: Mapping[str, str], body: bytes, corp_id: str, *, max_bytes: int
) -> dict[str, Any]:
    envelope = parse_xml(body, max_bytes=max_bytes)
    event = parse_xml(crypto.open(params, envelope.get("Encrypt", "")), max_bytes=max_bytes)
    if event.get("ToUserName") not in ("", corp_id):
        raise Forbidden("wecom: event for another corp")
    return event
