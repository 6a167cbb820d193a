"""Safe parsing of the XML WeChat posts (and of the XML inside encrypted envelopes).

The body comes from the internet before anything else is checked, so the parser must not be a
way in: the size is capped before parsing, and defusedxml refuses any DTD, which rules out
entity expansion (billion laughs) and external entities (XXE, `file:///etc/passwd`). The result
is a plain dict shaped like xmltodict's, which both our parser and wechatpy's message classes
accept, so wechatpy's own (unguarded) XML parser is never used on untrusted input.
"""

from __future__ import annotations

import logging
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from intake.domain.errors import Forbidden, InvalidInput

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024
_MAX_DEPTH = 8  # WeChat's deepest payloads (SendPicsInfo/PicList/item) are 4 levels deep

XmlDict = dict[str, Any]


def parse_xml(body: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> XmlDict:
    """Parse a WeChat `<xml>` document into a dict; refuse anything dangerous or malformed."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    if len(data) > max_bytes:
        raise InvalidInput(f"wechat: body larger than {max_bytes} bytes")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        log.warning("wechat xml refused: %s", type(exc).__name__)
        raise Forbidden(f"wechat: forbidden xml construct ({type(exc).__name__})") from None
    except (ParseError, ValueError) as exc:
        raise InvalidInput(f"wechat: malformed xml ({exc})") from None
    if root.tag != "xml":
        raise InvalidInput("wechat: the root element must be <xml>")
    converted = _to_value(root, depth=0)
    return converted if isinstance(converted, dict) else {}


def _to_value(element: Element, *, depth: int) -> Any:
    """Leaf → its text ('' when empty); element with children → dict; repeats → list."""
    if depth > _MAX_DEPTH:
        raise InvalidInput("wechat: xml nested too deeply")
    children = list(element)
    if not children:
        return element.text or ""
    result: dict[str, Any] = {}
    for child in children:
        value = _to_value(child, depth=depth + 1)
        if child.tag not in result:
            result[child.tag] = value
        elif isinstance(result[child.tag], list):
            result[child.tag].append(value)
        else:
            result[child.tag] = [result[child.tag], value]
    return result
