"""Third-party reply-parsing cases (tests/fixtures/email_replies) and how ours score on them.

Shared by `test_reply_corpus.py` (which asserts the pass rates) and `bench/email_reply_bench.py`
(which prints them). The held-out set is scored only as a whole and never looked at case by
case, so its rate says how the rules do on mail they were not fitted to (see the README there).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from channels.email.parse import parse_mail
from channels.email.reply import extract_reply

ROOT = Path(__file__).parent.parent / "fixtures" / "email_replies"
MAILBOX = "hotline@city.example.test"
_SPACE = re.compile(r"\s+")
HTML_EXPECTED = "Hi. I am fine.\n\nThanks,\nAlex"
# ours keeps a sign-off above the separator that talon's HTML rules drop with the <hr>
HTML_OVERRIDES = {
    "reply-separated-by-hr.html": "Hi there Bob",
    "OLK_SRC_BODY_SECTION.html": "Reply",
}
# talon keeps a tagline and signature as part of the reply; ours cuts them
STANDARD_OVERRIDES = {"sparrow.eml": "Hello"}


@dataclass(frozen=True, slots=True)
class Outcome:
    case: str
    passed: bool
    got: str
    want: str


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n") if line.strip()]


def _same_words(got: str, want: str) -> bool:
    return _SPACE.sub("", got) == _SPACE.sub("", want)


def _json_cases(name: str) -> Iterator[Outcome]:
    for case in json.loads((ROOT / name).read_text(encoding="utf-8")):
        reply = extract_reply(case["body"])
        forwarded = reply.forwarded.to_dict() if reply.forwarded else None
        ok = _lines(reply.text) == _lines(case["expected"])
        ok = ok and forwarded == case.get("forwarded")
        yield Outcome(case["id"], ok, reply.text, case["expected"])


def _mail_text(raw: bytes) -> str:
    return parse_mail(raw, mailbox_address=MAILBOX).message.text


def talon_standard() -> Iterator[Outcome]:
    for path in sorted((ROOT / "talon_standard").glob("*.eml")):
        want = STANDARD_OVERRIDES.get(path.name)
        if want is None:
            reply_file = path.with_name(path.stem + "_reply_text")
            want = reply_file.read_text(encoding="utf-8") if reply_file.exists() else "Hello"
            want = "\n".join(x for x in want.split("\n") if "Sent from my" not in x)
        got = _mail_text(path.read_bytes())
        yield Outcome(f"talon_standard.{path.name}", _lines(got) == _lines(want), got, want)


def _html_mail(html: str) -> bytes:
    head = "From: a@example.test\r\nSubject: Re: Test\r\nMIME-Version: 1.0\r\n"
    head += "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    return head.encode() + html.encode("utf-8")


def talon_html() -> Iterator[Outcome]:
    for path in sorted((ROOT / "talon_html").glob("*.html")):
        want = HTML_OVERRIDES.get(path.name, HTML_EXPECTED)
        got = _mail_text(_html_mail(path.read_text(encoding="utf-8")))
        yield Outcome(f"talon_html.{path.name}", _same_words(got, want), got, want)


def _folder_cases(folder: Path) -> Iterator[Outcome]:
    for case in json.loads((folder / "cases.json").read_text(encoding="utf-8")):
        body = (folder / case["file"]).read_text(encoding="utf-8")
        got = extract_reply(body).text
        yield Outcome(case["id"], _lines(got) == _lines(case["expected"]), got, case["expected"])


def talon_text() -> Iterator[Outcome]:
    return _json_cases("talon_text.json")


def quotequail_unwrap() -> Iterator[Outcome]:
    return _json_cases("quotequail_unwrap.json")


def mail_parser_reply() -> Iterator[Outcome]:
    return _json_cases("mail_parser_reply.json")


def crisp() -> Iterator[Outcome]:
    return _folder_cases(ROOT / "crisp")


def held_out() -> Iterator[Outcome]:
    return _folder_cases(ROOT / "heldout_willdurand")


TUNED = {
    "crisp": crisp,
    "talon_text": talon_text,
    "talon_standard": talon_standard,
    "talon_html": talon_html,
    "quotequail_unwrap": quotequail_unwrap,
    "mail_parser_reply": mail_parser_reply,
}


def rate(outcomes: list[Outcome]) -> float:
    return sum(o.passed for o in outcomes) / len(outcomes) if outcomes else 0.0
