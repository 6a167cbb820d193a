"""Pure, total conversion of a WeChat push (message or event) into an `InboundMessage`.

Total means it never raises: whatever WeChat (or anyone past the signature check) sends is
kept, as kind UNKNOWN if nothing better fits, with the raw payload attached, because a
citizen's message must never be lost to a parsing corner case. Events carry their name, key
and status in `fields` so the core can route menu clicks and delivery reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from intake.domain.messages import (
    Attachment,
    IdentityKind,
    InboundMessage,
    Location,
    MessageKind,
    SenderIdentity,
)

CHANNEL = "wechat"

_VOICE_TYPES = {"amr": "audio/amr", "speex": "audio/speex", "mp3": "audio/mpeg"}
_QR_PREFIX = "qrscene_"

Builder = Callable[[Mapping[str, Any]], dict[str, Any]]


def _s(data: Mapping[str, Any], key: str) -> str:
    """A field as text; nested or missing values become '' (never raise)."""
    value = data.get(key)
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _attachment(data: Mapping[str, Any], kind: str, content_type: str, url: str = "") -> Attachment:
    media_id = _s(data, "MediaId")
    name = f"wechat-{kind}-{_s(data, 'MsgId') or media_id or 'media'}"
    return Attachment(
        filename=name, content_type=content_type, url=url or None, media_id=media_id or None
    )


def _text(data: Mapping[str, Any]) -> dict[str, Any]:
    fields = {"menu_id": _s(data, "bizmsgmenuid")} if _s(data, "bizmsgmenuid") else {}
    return {"kind": MessageKind.TEXT, "text": _s(data, "Content"), "fields": fields}


def _image(data: Mapping[str, Any]) -> dict[str, Any]:
    att = _attachment(data, "image", "image/jpeg", _s(data, "PicUrl"))
    return {"kind": MessageKind.IMAGE, "attachments": (att,)}


def _voice(data: Mapping[str, Any]) -> dict[str, Any]:
    fmt = _s(data, "Format").lower()
    att = _attachment(data, "voice", _VOICE_TYPES.get(fmt, "application/octet-stream"))
    recognition = _s(data, "Recognition")
    fields = {"format": fmt, "recognized": bool(recognition)}
    return {"kind": MessageKind.VOICE, "text": recognition, "attachments": (att,), "fields": fields}


def _video(data: Mapping[str, Any]) -> dict[str, Any]:
    msg_type = _s(data, "MsgType").lower()
    att = _attachment(data, msg_type or "video", "video/mp4")
    fields = {"thumb_media_id": _s(data, "ThumbMediaId"), "short": msg_type == "shortvideo"}
    return {"kind": MessageKind.VIDEO, "attachments": (att,), "fields": fields}


def _location(data: Mapping[str, Any]) -> dict[str, Any]:
    label = _s(data, "Label") or None
    loc = Location(_float(_s(data, "Location_X")), _float(_s(data, "Location_Y")), label)
    fields = {"scale": _s(data, "Scale")}
    return {"kind": MessageKind.LOCATION, "text": label or "", "location": loc, "fields": fields}


def _link(data: Mapping[str, Any]) -> dict[str, Any]:
    title, description, url = _s(data, "Title"), _s(data, "Description"), _s(data, "Url")
    text = "\n".join(part for part in (title, description, url) if part)
    fields = {"title": title, "description": description, "url": url}
    return {"kind": MessageKind.LINK, "text": text, "fields": fields}


def _event_fields(data: Mapping[str, Any], event: str) -> dict[str, Any]:
    """The event's name and its parameters, keyed the same way for every event."""
    key = _s(data, "EventKey")
    fields: dict[str, Any] = {"event": event}
    if key:
        fields["event_key"] = key
    if event == "subscribe" and key.startswith(_QR_PREFIX):
        fields["scene"] = key[len(_QR_PREFIX) :]
    if event == "scan":
        fields["scene"] = key
    if event == "view":
        fields["url"] = key
    extra = {
        "ticket": "Ticket",
        "status": "Status",
        "template_msg_id": "MsgID",
        "menu_id": "MenuId",
    }
    fields.update({name: _s(data, tag) for name, tag in extra.items() if _s(data, tag)})
    if event == "location":
        fields["precision"] = _s(data, "Precision")
    return fields


def _event(data: Mapping[str, Any]) -> dict[str, Any]:
    event = _s(data, "Event").lower()
    built: dict[str, Any] = {"kind": MessageKind.EVENT, "fields": _event_fields(data, event)}
    if event == "location":
        lat, lng = _float(_s(data, "Latitude")), _float(_s(data, "Longitude"))
        built["location"] = Location(lat, lng, None)
    menu = _MENU_EVENTS.get(event)
    if menu is not None:
        menu(data, built)
    return built


def _nested(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _location_select(data: Mapping[str, Any], built: dict[str, Any]) -> None:
    """The menu's location picker: the chosen place, as a location message would carry it
    (so that a conversation waiting for a place takes it), plus the picked POI's name."""
    info = _nested(data, "SendLocationInfo")
    label, poi = _s(info, "Label") or None, _s(info, "Poiname") or None
    lat, lng = _float(_s(info, "Location_X")), _float(_s(info, "Location_Y"))
    if lat is None and lng is None and label is None and poi is None:
        return  # no place in it: an event like any other
    built["kind"] = MessageKind.LOCATION
    built["location"] = Location(lat, lng, label or poi)
    built["text"] = " ".join(dict.fromkeys(x for x in (poi, label) if x))
    built["fields"].update({"scale": _s(info, "Scale"), "poi": poi or ""})


def _scancode(data: Mapping[str, Any], built: dict[str, Any]) -> None:
    """A menu scan: the scanned code's content is kept; `scancode_waitmsg` (WeChat waits for
    our answer) is the citizen's message, `scancode_push` (WeChat opened it) stays an event."""
    info = _nested(data, "ScanCodeInfo")
    result = _s(info, "ScanResult")
    built["fields"].update({"scan_type": _s(info, "ScanType"), "scan_result": result})
    built["text"] = result
    if built["fields"]["event"] == "scancode_waitmsg" and result:
        built["kind"] = MessageKind.TEXT


def _pictures(data: Mapping[str, Any], built: dict[str, Any]) -> None:
    """A menu photo event: how many images follow as image messages, and their MD5 sums."""
    info = _nested(data, "SendPicsInfo")
    items = _nested(info, "PicList").get("item")
    listed = items if isinstance(items, list) else [items] if items is not None else []
    sums = [_s(item, "PicMd5Sum") for item in listed if isinstance(item, Mapping)]
    count = _s(info, "Count")
    built["fields"].update(
        {
            "pic_count": int(count) if count.isdigit() else len(sums),
            "pic_md5": [x for x in sums if x],
        }
    )


_MENU_EVENTS: dict[str, Callable[[Mapping[str, Any], dict[str, Any]], None]] = {
    "location_select": _location_select,
    "scancode_waitmsg": _scancode,
    "scancode_push": _scancode,
    "pic_sysphoto": _pictures,
    "pic_photo_or_album": _pictures,
    "pic_weixin": _pictures,
}


_BUILDERS: dict[str, Builder] = {
    "text": _text,
    "image": _image,
    "voice": _voice,
    "video": _video,
    "shortvideo": _video,
    "location": _location,
    "link": _link,
    "event": _event,
}


def external_id(data: Mapping[str, Any], raw: Any = None) -> str:
    """MsgId for messages; `event:{FromUserName}:{CreateTime}:{event}` for events.

    WeChat retries a delivery with the same MsgId (events: same FromUserName+CreateTime), so
    this id is stable across the retries. Template delivery reports add the template MsgID,
    since one citizen can get several reports within the same second.
    """
    msg_type = _s(data, "MsgType").lower()
    if msg_type == "event":
        event = _s(data, "Event").lower()
        base = f"event:{_s(data, 'FromUserName')}:{_s(data, 'CreateTime')}:{event}"
        template_id = _s(data, "MsgID") if event == "templatesendjobfinish" else ""
        return f"{base}:{template_id}" if template_id else base
    msg_id = _s(data, "MsgId") or _s(data, "MsgID")
    if msg_id:
        return msg_id
    digest = hashlib.sha256(_canonical(raw if raw is not None else data)).hexdigest()[:32]
    return f"{msg_type or 'unknown'}:{_s(data, 'FromUserName')}:{_s(data, 'CreateTime')}:{digest}"


def _canonical(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")


def _as_mapping(payload: Any) -> Mapping[str, Any]:
    """Accept our dict or a wechatpy message object (which keeps its dict in `_data`)."""
    if isinstance(payload, Mapping):
        return payload
    data = getattr(payload, "_data", None)
    return data if isinstance(data, Mapping) else {}


def to_inbound(
    payload: Mapping[str, Any] | Any,
    *,
    account: str,
    received_at: datetime,
    raw: bytes | str | None = None,
) -> InboundMessage:
    """Normalize one push; `account` is the app id, part of the citizen's identity."""
    data = _as_mapping(payload)
    msg_type = _s(data, "MsgType").lower()
    builder = _BUILDERS.get(msg_type)
    built: dict[str, Any] = builder(data) if builder else {"kind": MessageKind.UNKNOWN}
    extra: dict[str, Any] = built.pop("fields", {})
    fields = {"msg_type": msg_type, "to_user": _s(data, "ToUserName"), **extra}
    created = _s(data, "CreateTime")
    if created.isascii() and created.isdigit():
        fields["create_time"] = int(created)
    sender = SenderIdentity(IdentityKind.WECHAT, _s(data, "FromUserName"), account=account)
    return InboundMessage(
        channel=CHANNEL,
        external_id=external_id(data, raw),
        sender=sender,
        received_at=received_at,
        raw=raw if raw is not None else dict(data),
        fields=fields,
        **built,
    )
