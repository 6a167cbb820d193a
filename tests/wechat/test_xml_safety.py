"""Hostile XML: entity expansion, external entities, size and shape limits."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.wechat.endpoint import WeChatEndpoint
from channels.wechat.xml import parse_xml
from intake.domain.errors import Forbidden, IntakeError, InvalidInput
from tests.wechat.wechat_helpers import NOW, account, plain_post

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName>gh_city</ToUserName><FromUserName>o_user1</FromUserName>
<CreateTime>1795290000</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content>
<MsgId>1</MsgId></xml>"""

MARKER = "XXE-MARKER-7f3a9c"


def xxe_payload(target: Path, *, kind: str = "SYSTEM") -> str:
    return f"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe {kind} "file://{target}">]>
<xml><ToUserName>gh_city</ToUserName><FromUserName>o_user1</FromUserName>
<CreateTime>1795290000</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content>
<MsgId>2</MsgId></xml>"""


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    target = tmp_path / "secret.txt"
    target.write_text(MARKER)
    return target


_WATCHED: dict[str, list[str]] = {}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Record every attempt to open a watched path (audit hooks cannot be removed)."""
    if event == "open" and args and str(args[0]).endswith("secret.txt"):
        for opened in _WATCHED.values():
            opened.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def opened_files() -> Iterator[list[str]]:
    opened: list[str] = []
    _WATCHED["current"] = opened
    yield opened
    _WATCHED.pop("current", None)


def test_audit_hook_sees_an_open(secret_file: Path, opened_files: list[str]) -> None:
    """The detector works: reading the file is seen (so its silence below means something)."""
    assert secret_file.read_text() == MARKER
    assert opened_files == [str(secret_file)]


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(Forbidden):
        parse_xml(BILLION_LAUGHS)


def test_external_entity_is_refused_and_file_not_read(
    secret_file: Path, opened_files: list[str]
) -> None:
    with pytest.raises(Forbidden) as caught:
        parse_xml(xxe_payload(secret_file))
    assert MARKER not in str(caught.value)
    assert opened_files == []


def test_parameter_entity_and_public_id_are_refused(secret_file: Path) -> None:
    payload = f"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY % p SYSTEM "file://{secret_file}"> %p;]><xml><A>1</A></xml>"""
    with pytest.raises(Forbidden):
        parse_xml(payload)
    with pytest.raises(Forbidden):
        parse_xml(xxe_payload(secret_file, kind='PUBLIC "-//x//y"'))


def test_xxe_through_the_endpoint_leaks_nothing(
    secret_file: Path, opened_files: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A correctly signed plaintext push carrying XXE: refused, marker in no output or log."""
    endpoint = WeChatEndpoint(account(mode="plaintext"), clock=lambda: NOW)
    params, body = plain_post(xxe_payload(secret_file))
    with pytest.raises(IntakeError) as caught:
        endpoint.open_post(params, body)
    assert isinstance(caught.value, Forbidden)
    assert MARKER not in str(caught.value)
    assert MARKER not in caplog.text
    assert opened_files == []


def test_bomb_through_the_endpoint_is_refused() -> None:
    endpoint = WeChatEndpoint(account(mode="plaintext"), clock=lambda: NOW)
    params, body = plain_post(BILLION_LAUGHS)
    with pytest.raises(Forbidden):
        endpoint.open_post(params, body)


def test_oversized_body_is_refused_before_parsing() -> None:
    body = b"<xml><Content>" + b"a" * (64 * 1024) + b"</Content></xml>"
    with pytest.raises(InvalidInput, match="larger than"):
        parse_xml(body)
    assert parse_xml(body, max_bytes=len(body))["Content"] == "a" * (64 * 1024)


@pytest.mark.parametrize(
    "body",
    [b"", b"not xml", b"<xml><A></xml>", b"<root><A>1</A></root>", b"<xml>\x00</xml>"],
)
def test_malformed_xml_is_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_xml(body)


def test_deep_nesting_is_refused() -> None:
    body = "<xml>" + "<a>" * 50 + "x" + "</a>" * 50 + "</xml>"
    with pytest.raises(InvalidInput, match="deeply"):
        parse_xml(body)


def test_predefined_entities_and_cdata_still_work() -> None:
    parsed = parse_xml("<xml><A>&lt;b&gt; &amp;</A><B><![CDATA[<i>]]></B><C/></xml>")
    assert parsed == {"A": "<b> &", "B": "<i>", "C": ""}


def test_repeated_and_nested_elements() -> None:
    parsed = parse_xml(
        "<xml><SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum>a</PicMd5Sum></item>"
        "<item><PicMd5Sum>b</PicMd5Sum></item></PicList></SendPicsInfo></xml>"
    )
    items = parsed["SendPicsInfo"]["PicList"]["item"]
    assert [i["PicMd5Sum"] for i in items] == ["a", "b"]


def test_any_doctype_is_refused_even_without_entities() -> None:
    with pytest.raises(Forbidden, match="DTD"):
        parse_xml('<?xml version="1.0"?><!DOCTYPE xml><xml><A>1</A></xml>')
