"""Turning mail bytes into text: charsets, RFC 2047 headers and HTML.

Chinese mail is labelled loosely: "gb2312" mail routinely contains GBK characters (镕, 堃 ...),
Big5 senders use Microsoft extensions, and some clients send 8-bit headers with no label at all.
So every label is widened to its superset, a strict decode is tried first, then detection, and
the last resort decodes with replacement characters: decoding never raises.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import logging
import quopri
import re
from email.message import Message

import charset_normalizer
import lxml.html
from inscriptis import Inscriptis
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

log = logging.getLogger(__name__)

# label -> decoders to try, widest first (a superset decodes everything the label promises)
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "gb18030": ("gb18030",),
    "big5": ("cp950", "big5hkscs"),
    "big5hkscs": ("big5hkscs", "cp950"),
    "iso2022_jp": ("iso2022_jp_2", "iso2022_jp_ext"),
    "shift_jis": ("cp932",),
    "euc_kr": ("cp949",),
    "ascii": ("utf-8",),  # undeclared 8-bit text is most often UTF-8
    "iso8859_1": ("cp1252",),
}
# labels seen in the wild that Python's codec registry does not know
_ALIASES = {
    "x-gbk": "gbk",
    "gb_2312-80": "gbk",
    "csgb2312": "gbk",
    "x-cp20936": "gbk",
    "x-euc-cn": "gbk",
    "x-big5": "big5",
    "x-sjis": "cp932",
}
_FALLBACKS = ("utf-8", "gb18030")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_SPACE_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_:.-]+)", re.IGNORECASE)


def _codec_name(label: str | None) -> str | None:
    """Python's canonical codec name for a MIME label, or None when unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").split("*", 1)[0].lower()  # RFC 2231 language suffix
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name.replace("-", "_")
    except LookupError:
        return None


def decoders_for(label: str | None) -> list[str]:
    """Decoders to try for a declared charset, widest first, then the declared one itself."""
    name = _codec_name(label)
    if name is None:
        return []
    return [*_SUPERSETS.get(name, ()), name]


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode `data` declared as `charset`; never raises (see module docstring)."""
    if not data:
        return ""
    for codec in [*decoders_for(charset), *_FALLBACKS]:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    best = charset_normalizer.from_bytes(data).best()
    if best is not None:
        return str(best)
    return data.decode("gb18030", errors="replace")


_WIDE_CODECS = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le", "utf_7"]


def decode_header_bytes(data: bytes) -> str:
    """Decode 8-bit header bytes, which are short, so that a statistical guess is weak.

    UTF-8 and GB18030 are tried strictly, then with replacement when only a byte or two is
    bad (one broken byte must not turn a name into garbage), and only then the guess,
    which may never pick a wide codec: that would turn ASCII addresses into CJK noise.
    """
    for codec in _FALLBACKS:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    allowed = max(1, len(data) // 20)
    for codec in _FALLBACKS:
        text = data.decode(codec, errors="replace")
        if text.count("\ufffd") <= allowed:
            return text
    best = charset_normalizer.from_bytes(data, cp_exclusion=_WIDE_CODECS).best()
    if best is not None and best.encoding not in _WIDE_CODECS:
        return str(best)
    return data.decode("utf-8", errors="replace")


def unescape_surrogates(value: str) -> bytes:
    """The original bytes of a header that the stdlib parser kept with surrogateescape."""
    return value.encode("ascii", errors="surrogateescape")


def raw_header_text(value: object) -> str:
    """A header value as text: 8-bit bytes decoded (UTF-8, then GB18030 ...), still RFC 2047."""
    if not isinstance(value, str):
        value = str(value)
    try:
        value.encode("ascii")
        return value
    except UnicodeEncodeError:
        pass
    try:
        return decode_header_bytes(unescape_surrogates(value))
    except UnicodeEncodeError:  # already real unicode text
        return value


def header_values(msg: Message, name: str) -> list[str]:
    """Every value of header `name` as text (8-bit bytes decoded, RFC 2047 words kept).

    Read from `raw_items()` because the stdlib's compat32 `get()` turns raw 8-bit headers
    (common from Chinese clients) into an unknown-8bit Header whose bytes are lost.
    """
    wanted = name.lower()
    try:
        return [raw_header_text(v) for k, v in msg.raw_items() if k.lower() == wanted]
    except Exception:  # a header the parser could not even store is treated as absent
        return []


def header_bytes(msg: Message, name: str) -> list[bytes]:
    """Every value of header `name` as the bytes that arrived (nothing decoded yet)."""
    wanted = name.lower()
    out: list[bytes] = []
    try:
        items = msg.raw_items()
        for key, value in items:
            if key.lower() == wanted:
                text = value if isinstance(value, str) else str(value)
                out.append(text.encode("utf-8", errors="surrogateescape"))
    except Exception:  # a header the parser could not even store is treated as absent
        return []
    return out


def header_text(msg: Message, name: str) -> str | None:
    """The first value of header `name` (see `header_values`), or None when absent."""
    values = header_values(msg, name)
    return values[0] if values else None


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    """The bytes of one encoded word; None when it is beyond repair."""
    try:
        if encoding.lower() == "b":
            payload += "=" * (-len(payload) % 4)
            return base64.b64decode(payload, validate=True)  # garbage stays visible as is
        return quopri.decodestring(payload.replace("_", " ").encode("ascii"), header=False)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def decode_words(value: str | None) -> str:
    """Decode RFC 2047 encoded words, tolerating what real clients send.

    Adjacent words of one charset are joined before decoding, because clients split multi-byte
    characters across words; words glued to text, unknown charsets and bad base64 are kept or
    decoded as well as possible instead of failing the whole header.
    """
    if not value:
        return ""
    text = re.sub(r"\r?\n[ \t]+", " ", raw_header_text(value))
    text = _SPACE_BETWEEN_WORDS.sub(r"\1\2", text)
    out: list[str] = []
    run: tuple[str, bytearray] | None = None  # adjacent words of one charset
    pos = 0
    for found in _ENCODED_WORD.finditer(text):
        data = _word_bytes(found.group(2), found.group(3))
        charset = found.group(1).lower()
        if found.start() > pos or data is None or (run is not None and run[0] != charset):
            _flush(out, run)
            run = None
            out.append(text[pos : found.start()])
        if data is None:
            out.append(found.group(0))
        elif run is None:
            run = (charset, bytearray(data))
        else:
            run[1].extend(data)
        pos = found.end()
    _flush(out, run)
    out.append(text[pos:])
    return "".join(out).strip()


def _flush(out: list[str], pending: tuple[str, bytearray] | None) -> None:
    """Append a run of same-charset encoded-word bytes as text."""
    if pending is not None:
        out.append(decode_bytes(bytes(pending[1]), pending[0]))


def sniff_html_charset(data: bytes) -> str | None:
    """The charset an HTML body declares in a <meta> tag, for parts without a MIME label."""
    found = _META_CHARSET.search(data[:4096])
    return found.group(1).decode("ascii") if found else None


_MAILTO_LINK = re.compile(r"\[([^\]\s]+@[^\]\s]+)\]\(mailto:\1\)")
_HTML_CONFIG = ParserConfig(css=CSS_PROFILES["strict"], display_links=True)
_QUOTE_XPATH = (
    "//blockquote | //*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"
    " | //*[@id='divRplyFwdMsg'] | //*[@id='divRplyFwdMsg']/following-sibling::*"
    " | //hr[following-sibling::*[1][@id='divRplyFwdMsg']]"
    " | //*[@id='appendonsend']/following-sibling::*"
)


def _rules_as_text(tree: lxml.html.HtmlElement) -> None:
    """`<hr>` becomes a line of underscores: clients separate a quoted mail's header with it."""
    for node in tree.iter("hr"):
        rule = lxml.html.Element("div")
        rule.text = "_" * 32
        rule.tail = node.tail
        parent = node.getparent()
        if parent is not None:
            parent.replace(node, rule)


def html_to_text(html: str, *, drop_quotes: bool = False) -> str:
    """Readable text of an HTML body (tables laid out, links kept), via lxml + inscriptis.

    With `drop_quotes`, quoted earlier mails (blockquote, Gmail's quote div, Outlook's reply
    header) are removed from the tree first, which is far more reliable than finding them in text.
    """
    if not html.strip():
        return ""
    try:
        parser = lxml.html.HTMLParser(encoding="utf-8")
        tree = lxml.html.document_fromstring(html.encode("utf-8", "replace"), parser=parser)
        if drop_quotes:
            for node in tree.xpath(_QUOTE_XPATH):
                parent = node.getparent()
                if parent is not None:
                    parent.remove(node)
        _rules_as_text(tree)
        text = Inscriptis(tree, _HTML_CONFIG).get_text()
    except Exception:  # any HTML must yield some text
        log.debug("html conversion failed, falling back to tag stripping", exc_info=True)
        try:
            text = lxml.html.fromstring(html).text_content()
        except Exception:
            text = html
    return _MAILTO_LINK.sub(r"\1", text).replace("\xa0", " ")
