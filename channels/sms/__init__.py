"""SMS channel edge: Kannel MO/DLR parsing, segmenting, and senders (Kannel, Aliyun).

What an SMS *means* (follow-up, rating, opt-out) is decided in the core; this package only
verifies, parses and delivers. Routes call `parse_mo_request` / `parse_dlr_request`; the
notifier gets its `Sender` from `build_sender`.
"""

from __future__ import annotations

import httpx

from intake.domain.errors import ConfigurationError
from intake.ratelimit.buckets import RateLimiter

from .cloud import AliyunSender
from .dlr import DeliveryReport, DeliveryState, build_dlr_url, parse_dlr_request
from .kannel_in import parse_mo_request
from .kannel_out import KannelSender
from .segments import count_segments, fit
from .settings import SmsSettings, TemplateSpec

__all__ = [
    "AliyunSender",
    "DeliveryReport",
    "DeliveryState",
    "KannelSender",
    "SmsSettings",
    "TemplateSpec",
    "build_dlr_url",
    "build_sender",
    "count_segments",
    "fit",
    "parse_dlr_request",
    "parse_mo_request",
]


def build_sender(
    settings: SmsSettings,
    client: httpx.AsyncClient | None = None,
    limiter: RateLimiter | None = None,
) -> KannelSender | AliyunSender:
    """The configured provider's sender; refuses settings that cannot work at start-up.

    `client` is for the cloud providers (HTTPS through httpx); Kannel keeps its own pool."""
    problem = settings.sender_problem()
    if problem:
        raise ConfigurationError(problem)
    if settings.provider == "kannel":
        return KannelSender(settings, limiter=limiter)  # its own pool: see http1.py
    return AliyunSender(settings, client, limiter)
