"""Signed one-click rating links: `/r/<prompt>-<answer>-<signature>`.

The signature is an HMAC of the prompt id and the answer with the service's secret key, so a
link cannot be edited into another prompt or another answer. Validity is the prompt's own
(pending until it expires), so the token itself carries no time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

RATINGS = ("satisfied", "basic", "unsatisfied")  # 满意 / 基本满意 / 不满意, answered 1 / 2 / 3
RATING_ZH = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}


@dataclass(frozen=True)
class LinkAnswer:
    prompt_id: int
    rating: str


def _signature(secret: str, prompt_id: int, answer: int) -> str:
    mac = hmac.new(secret.encode(), f"rating:{prompt_id}:{answer}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:15]).decode()


def make_token(secret: str, prompt_id: int, rating: str) -> str:
    answer = RATINGS.index(rating) + 1
    return f"{prompt_id}-{answer}-{_signature(secret, prompt_id, answer)}"


def read_token(secret: str, token: str) -> LinkAnswer | None:
    """The answer a token stands for, or None when it was not signed by us."""
    try:
        prompt, answer, signature = token.split("-", 2)
        prompt_id, number = int(prompt), int(answer)
    except ValueError:
        return None
    if not 1 <= number <= len(RATINGS):
        return None
    if not hmac.compare_digest(signature, _signature(secret, prompt_id, number)):
        return None
    return LinkAnswer(prompt_id=prompt_id, rating=RATINGS[number - 1])


def rating_links(base_url: str, secret: str, prompt_id: int) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {r: f"{base}/r/{make_token(secret, prompt_id, r)}" for r in RATINGS}
