"""Signed one-click rating links: `/r/<prompt>-<answer>-<signature>`.

The signature is an HMAC-SHA256 of the prompt id and the answer with the service's secret key
(at least 32 bytes, or 384 random bits generated per data folder: `intake/secret_key.py`),
truncated to 120 bits, so a link can neither be guessed from the sequential prompt ids nor
edited into another prompt or another answer. Validity is the prompt's own (pending until it
expires), so the token itself carries no time. Anything that is not exactly a token we could
have made is refused before any comparison.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

RATINGS = ("satisfied", "basic", "unsatisfied")  # 满意 / 基本满意 / 不满意, answered 1 / 2 / 3
RATING_ZH = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}
SIGNATURE_BYTES = 15  # 120 bits: 20 URL-safe characters, no padding
_TOKEN = re.compile(r"([1-9][0-9]{0,17})-([1-3])-([A-Za-z0-9_-]{20})")


@dataclass(frozen=True)
class LinkAnswer:
    prompt_id: int
    rating: str


def _signature(secret: str, prompt_id: int, answer: int) -> str:
    mac = hmac.new(secret.encode(), f"rating:{prompt_id}:{answer}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:SIGNATURE_BYTES]).decode()


def make_token(secret: str, prompt_id: int, rating: str) -> str:
    answer = RATINGS.index(rating) + 1
    return f"{prompt_id}-{answer}-{_signature(secret, prompt_id, answer)}"


def read_token(secret: str, token: str) -> LinkAnswer | None:
    """The answer a token stands for, or None when it was not signed by us."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    prompt_id, number = int(match[1]), int(match[2])
    expected = _signature(secret, prompt_id, number).encode("ascii")
    if not hmac.compare_digest(expected, match[3].encode("ascii")):
        return None
    return LinkAnswer(prompt_id=prompt_id, rating=RATINGS[number - 1])


def rating_links(base_url: str, secret: str, prompt_id: int) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {r: f"{base}/r/{make_token(secret, prompt_id, r)}" for r in RATINGS}
