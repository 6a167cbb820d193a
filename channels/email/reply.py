"""What the citizen wrote this time: quotes removed wherever they are, forwards kept.

A handler wants the citizen's words, not our acknowledgement quoted back; but losing a
citizen's words is worse than keeping a quote, so every rule here cuts only at a line that a
mail client wrote (`reply_patterns`) and returns the text untouched when unsure.

- Top-posting: the answer is above the first quote header; below it is cut.
- Bottom-posting and inline answers: a `>` quote (with its header) is dropped and the lines
  written below or between the quoted ones are kept.
- A forward (a forward separator, or a quoted mail under a `Fwd:`/`转发:` subject) keeps the
  covering line *and* the forwarded mail's text, and reports the forwarded mail's sender, date
  and subject separately, since the forwarded mail is often the whole complaint.
- A signature (`-- `) or a mobile tagline (`发自我的iPhone`) is cut when only a few short lines
  follow it, so that a tagline quoted inside the text does not cut the text.

We evaluated the maintained libraries (see `tests/fixtures/email_replies/README.md`); none keeps a
forward's content or knows the Chinese clients' headers, so the rules live here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from channels.email import reply_patterns as p

_FORWARD_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:Fwd?|FW|TR|WG|RV|Doorst|VB|转发|轉寄|转寄|轉發)\s*[:：]", re.I
)
_MAX_SIGNATURE_LINES = 6
_MAX_HEADER_JOIN = 4
_LINK_SUFFIX = re.compile(r"<https?://[^>\s]*>\s*$")
_BARE_ADDRESS = re.compile(r"^\s*[\w.+-]+@[\w-]+(?:\.[\w-]+)+\s*$")
_ARROW_OR_QUOTE = re.compile(r"^\s*>")
_ARROW = re.compile(r"^\s*>{3,}")
_YEAR = re.compile(r"(?:19|20)\d\d\s*[年/.-]")
_TIME = re.compile(r"\d{1,2}:\d{2}")


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The forwarded mail's own header, as the forwarding client wrote it."""

    sender: str | None = None
    date: str | None = None
    subject: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"sender": self.sender, "date": self.date, "subject": self.subject}


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    quote: str = "none"  # none | top | bottom | whole (nothing but a quote: kept)
    forwarded: Forwarded | None = None


def normalize_text(text: str) -> str:
    """Unix newlines, no trailing spaces, at most one blank line in a row, no outer blanks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ").replace("\u200b", "")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def extract_reply(text: str, *, subject: str = "") -> Reply:
    """The sender's own text of a plain-text body (see the module docstring)."""
    lines = _split_inline_headers(normalize_text(text).split("\n"))
    cut = _first_quote(lines)
    if cut is None:
        own = _join(_without_edge_quotes(_strip_signature(lines)))
        return Reply(own) if own else Reply(normalize_text(text), quote="whole")
    start, end = cut
    forward = p.FORWARD_SEPARATOR.match(lines[start]) is not None
    if forward or (_FORWARD_SUBJECT.match(subject) and not _is_quote_marked(lines, end)):
        return _forward(lines, start, end)
    top = _join(_strip_signature(_without_edge_quotes(lines[:start])))
    below = _answers_below(lines, end)
    if top:
        return Reply(_join([top, *(["", below] if below else [])]), quote="top")
    if below:
        return Reply(below, quote="bottom")
    if not _is_quote_marked(lines, end):  # the mail opens with another mail: keep that one
        inner = extract_reply("\n".join(lines[end:]))
        header = _forwarded_header(lines[start:end])
        return Reply(inner.text or normalize_text(text), quote="whole", forwarded=header)
    return Reply(normalize_text(text), quote="whole")


def _join(parts: list[str]) -> str:
    return normalize_text("\n".join(parts))


# --- finding quote headers -------------------------------------------------------------------


def _first_quote(lines: list[str]) -> tuple[int, int] | None:
    """(first line, line after the header) of the first quote header, if any."""
    for index in range(len(lines)):
        end = _header_at(lines, index)
        if end is not None:
            if index and _lone_address(lines[index - 1]):
                index -= 1  # Gmail wraps "Name <address>" above "于 … 写道："
            elif index and _dated_opening(lines[index - 1], lines[index]):
                index -= 1  # "pe 20. lokakuuta 2017 klo 17.50 Name" wrapped above "<a> kirjoitti:"
            before = _previous_filled(lines, index)
            if before is not None and p.RULE_LINE.match(lines[before]):
                index = before  # the rule (or <hr>) above a header belongs to the quote
            return index, end
    return None


def _dated_opening(before: str, header: str) -> bool:
    """The first half of a header whose second half opens with the address."""
    text = before.strip()
    return (
        header.lstrip(" >").startswith("<")
        and 0 < len(text) < 120
        and p.DATE_LIKE.search(text) is not None
        and not text.startswith(">")
    )


def _lone_address(line: str) -> bool:
    text = line.strip().lstrip(">").strip()
    return len(text) < 100 and re.fullmatch(r"[^<>]{0,60}<[^<>\s]+@[^<>\s]+>", text) is not None


def _split_inline_headers(lines: list[str]) -> list[str]:
    """Put an `On … wrote:` that shares a line with the answer on a line of its own."""
    out: list[str] = []
    for line in lines:
        found = p.INLINE_ON.search(line)
        before = line[: found.start(1)].rstrip(" -") if found else ""
        if found and before.strip():
            out.extend([before, line[found.start(1) :]])
        else:
            out.append(line)
    return out


def _header_at(lines: list[str], index: int) -> int | None:
    """The index after the quote header starting at `index`, or None when there is none."""
    line = lines[index]
    if not line.strip():
        return None
    if p.FORWARD_SEPARATOR.match(line) or p.ORIGINAL_SEPARATOR.match(line):
        block = _block_end(lines, _next_filled(lines, index + 1), any_start=True)
        return block if block is not None else index + 1
    if p.RULE_LINE.match(line):
        after = _next_filled(lines, index + 1)
        block = _block_end(lines, after) if after is not None else None
        return block
    if p.WROTE_DASHED.match(line) or p.INLINE_HEADER.match(line):
        return index + 1
    block = _block_end(lines, index)
    if block is not None:
        return block
    return _on_wrote_end(lines, index)


def _previous_filled(lines: list[str], index: int) -> int | None:
    for j in range(index - 1, -1, -1):
        if lines[j].strip():
            return j
    return None


def _next_filled(lines: list[str], index: int) -> int | None:
    """The next line with text (a bare `>` line is an empty quoted line, not text)."""
    for j in range(index, len(lines)):
        if lines[j].strip(" \t>"):
            return j
    return None


def _on_wrote_end(lines: list[str], index: int) -> int | None:
    """`On <date>, <person> wrote:` and its kin, possibly wrapped over a few lines."""
    first = lines[index].strip().lstrip(">").strip()
    joined = ""
    for j in range(index, min(len(lines), index + _MAX_HEADER_JOIN + 2)):
        joined = f"{joined} {lines[j].strip()}".strip() if lines[j].strip() else joined
        if len(joined) > 400:
            return None
        alone = lines[j].strip()
        if j > index and p.HEADER_START.match(alone) and _on_wrote_end(lines, j) is not None:
            return None  # a header of its own further down: found from there
        if _is_quote_header(joined, lines, j, single=j == index):
            return j + 1
        if not p.HEADER_START.match(first):
            return None  # only a line that starts like a header may continue on the next
    return None


def _is_text(line: str) -> bool:
    return bool(line.strip()) and not line.lstrip().startswith(">")


def _is_quote_header(joined: str, lines: list[str], j: int, *, single: bool) -> bool:
    text = joined.lstrip("-–— ").strip()
    if len(text) > 400:
        return False
    has_date = p.DATE_LIKE.search(text) is not None
    has_address = p.ADDRESS.search(text) is not None
    ends_colon = text.endswith((":", "：")) or text.rstrip("-–— ").endswith((":", "："))
    has_time = _TIME.search(text) is not None
    if text.lower().startswith("on ") and text.endswith(" wrote") and has_address and has_date:
        return True  # "On <date> Name <address> wrote", its colon lost
    if p.WROTE_END.search(text):
        dated = has_date and (_YEAR.search(text) is not None or text.lower().startswith("on "))
        return has_address or has_time or dated
    if ends_colon and has_date and has_address:
        return True
    # "2011/4/7 Name <address>" directly above a `>` quote
    nxt = _next_filled(lines, j + 1)
    marked = nxt is not None and lines[nxt].lstrip().startswith(">")
    return single and marked and has_date and has_address and len(text) < 200


def _block_end(lines: list[str], index: int | None, *, any_start: bool = False) -> int | None:
    """The end of a header block (`From:`/`Sent:`/`To:`/`Subject:` ...) starting at `index`;
    under a separator line the block may open with any field."""
    if index is None or not p.HEADER_FIELD.match(lines[index]):
        return None
    starts_with_from = any_start or p.FROM_FIELD.match(lines[index]) is not None
    if not starts_with_from and not p.DATE_FIELD.match(lines[index]):
        return None
    keys, j, end, after_key = 0, index, index, False
    roles: set[str] = set()
    while j < len(lines) and j < index + 12:
        found = p.HEADER_FIELD.match(lines[j])
        if found:
            keys += 1
            roles.add(p.KEY_ROLES.get(found.group("key").lower().strip(), "other"))
            end, after_key = j + 1, True
        elif not lines[j].strip():
            if keys >= 2:
                break
            after_key = False
        elif not after_key or not _next_is_field(lines, j):
            break  # a value wrapped onto one more line is allowed, prose is not
        else:
            end, after_key = j + 1, False
        j += 1
    if keys < 2 or (not starts_with_from and not ({"from", "other"} & roles)):
        return None  # a date block needs a From/To line: "日期：…/主题：…" may be a letter's
    return end


def _next_is_field(lines: list[str], index: int) -> bool:
    return index + 1 < len(lines) and p.HEADER_FIELD.match(lines[index + 1]) is not None


def _is_quote_marked(lines: list[str], end: int) -> bool:
    after = _next_filled(lines, end)
    return after is not None and lines[after].lstrip().startswith(">")


# --- what is kept ----------------------------------------------------------------------------


def _answers_below(lines: list[str], end: int) -> str:
    """Lines written below a `>` quote (bottom-posting, inline answers); none below an
    unmarked quote, whose end cannot be told."""
    if not _is_quote_marked(lines, end):
        return ""
    kept: list[str] = []
    index = end
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith(">") or _wrapped_quote_line(lines, index):
            index += 1
            continue
        header = _header_at(lines, index)
        if header is not None:
            if not _is_quote_marked(lines, header):
                break
            index = header
            continue
        kept.append(line)
        index += 1
    return _join(_strip_signature(kept, below_quote=True))


def _wrapped_quote_line(lines: list[str], index: int) -> bool:
    """A link or words wrapped out of a `>` quote: a line squeezed between quoted lines,
    after a long one or looking like a link. An answer written inside a quote stands apart
    (a blank line), or follows a short question."""
    line = lines[index].strip()
    if not line or index == 0 or not lines[index - 1].lstrip().startswith(">"):
        return False
    nxt = next((j for j in range(index + 1, len(lines)) if lines[j].strip()), None)
    if nxt is None or not lines[nxt].lstrip().startswith(">"):
        return False
    wrapped_word = line.isascii() and " " not in line and len(line) < 60
    if wrapped_word or "http" in line or line.endswith(">"):
        return True
    previous = lines[index - 1].strip()
    width = sum(2 if ord(ch) > 0x2E80 else 1 for ch in previous)
    return nxt == index + 1 and width >= 60


def _without_edge_quotes(lines: list[str]) -> list[str]:
    """Drop `>` quoted lines that no header introduces. A line opening with `>>>` is kept:
    without a header it is far more often the citizen's own arrow than a third-level quote."""
    return [line for line in lines if not _ARROW_OR_QUOTE.match(line) or _ARROW.match(line)]


def _strip_signature(lines: list[str], *, below_quote: bool = False) -> list[str]:
    """Cut at a signature delimiter or a mobile tagline followed by a few short lines only,
    and a bare address on the last line (Foxmail signs with the sender's address). Below a
    quote, "--" always starts the signature."""
    while lines and (not lines[-1].strip() or _BARE_ADDRESS.match(lines[-1])):
        lines = lines[:-1]
    for index, line in enumerate(lines):
        if _is_tagline(line):
            return lines[:index]  # a client's line: what follows is the client's too
        if p.SIGNATURE_DELIMITER.match(line) and below_quote:
            return lines[:index]  # under a quote only a signature follows "--"
        if p.SIGNATURE_DELIMITER.match(line):
            rest = [x for x in lines[index + 1 :] if x.strip()]
            if len(rest) <= _MAX_SIGNATURE_LINES and all(len(x) < 80 for x in rest):
                return lines[:index]
    return lines


def _is_tagline(line: str) -> bool:
    """ "Sent from my iPhone", not "Sent from my desk, is much easier than my phone."."""
    text = _LINK_SUFFIX.sub("", line).strip()
    return (
        len(text) <= 50
        and not re.search(r"[,，。;；!?！？]", text)
        and bool(p.MOBILE_TAGLINE.match(text))
    )


def _forward(lines: list[str], start: int, end: int) -> Reply:
    """The covering text and the forwarded mail's text, with the forwarded header apart."""
    cover = _join(_strip_signature(lines[:start]))
    header_from = (
        _next_filled(lines, start + 1) if p.FORWARD_SEPARATOR.match(lines[start]) else start
    )
    forwarded = _forwarded_header(lines[header_from or start : end])
    if forwarded is None and p.FORWARD_SEPARATOR.match(lines[start]):
        forwarded = Forwarded()  # said to be a forward, though its header is missing
    body = [_unquote(line) for line in lines[end:]]
    text = _join([cover, "", *body]) if cover else _join(body)
    return Reply(text or normalize_text("\n".join(lines)), quote="none", forwarded=forwarded)


def _unquote(line: str) -> str:
    stripped = line.lstrip()
    return re.sub(r"^>\s?", "", stripped) if stripped.startswith(">") else line


def _forwarded_header(lines: list[str]) -> Forwarded | None:
    """The forwarded mail's sender, date and subject (a value may wrap onto a next line)."""
    values: dict[str, str] = {}
    last = ""
    for line in lines:
        text = _unquote(line).strip()
        found = p.HEADER_FIELD.match(text)
        if found:
            last = p.KEY_ROLES.get(found.group("key").lower().strip(), "other")
            value = found.group("value").strip().strip("|*").strip().rstrip(";；").strip()
            if value and last not in values:
                values[last] = value
            elif last in values:
                last = ""  # a repeated field: its wrapped lines are not ours either
        elif text and last in values:
            values[last] = f"{values[last]} {text}"
    if not {"from", "date", "subject"} & set(values):
        return None
    return Forwarded(values.get("from"), values.get("date"), values.get("subject"))
