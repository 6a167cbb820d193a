"""Rating links cannot be forged: not with the old public development secret, not by editing
an honest link's prompt or answer, not with odd bytes; the honest link records once."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from intake.runtime import Runtime
from notifier.links import make_token, read_token
from notifier.service import Notifier
from tests.notifier.conftest import FakeClock, Recorder
from tests.notifier.helpers import closed_and_surveyed, events, ticket

OLD_PUBLIC_SECRET = "dev-insecure-secret-change-me"  # what `intake run` signed with before


async def test_forged_and_edited_links_are_refused(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    number = await closed_and_surveyed(nruntime, http, make_notifier(senders), clock)
    satisfied, basic, _ = re.findall(r"/r/([\w-]+)", senders["email"].sent[-1].text)
    prompt_id = int(satisfied.split("-")[0])
    signature = satisfied.rsplit("-", 1)[1]
    forged = [
        make_token(OLD_PUBLIC_SECRET, prompt_id, "unsatisfied"),  # the public secret
        f"{prompt_id}-3-{signature}",  # another answer under the honest signature
        f"{prompt_id + 1}-1-{signature}",  # another prompt
        f"{prompt_id}-1-{signature[:-1]}",  # a truncated signature
        f"{prompt_id}-1-{signature[:-1]}é",  # a non-ASCII one: refused, not a 500
        f"{prompt_id}-01-{signature}",
        f"9223372036854775808-1-{signature}",
    ]
    for token in forged:
        refused = await http.get(f"/r/{token}")
        assert refused.status_code == 404, token
        assert "链接无效" in refused.text
    assert await events(nruntime, number, "rated") == []
    assert (await ticket(nruntime, number)).status == "closed"

    first = await http.get(f"/r/{basic}")
    assert first.status_code == 200 and "基本满意" in first.text
    again = await http.get(f"/r/{satisfied}")
    assert "已评价或已过期" in again.text
    (rated,) = await events(nruntime, number, "rated")
    assert rated.data["rating"] == "basic"


async def test_links_are_signed_with_the_runtime_secret(nruntime: Runtime) -> None:
    assert nruntime.secret_key != OLD_PUBLIC_SECRET
    token = make_token(nruntime.secret_key, 7, "unsatisfied")
    assert read_token(nruntime.secret_key, token) is not None
    assert read_token(OLD_PUBLIC_SECRET, token) is None


@pytest.mark.parametrize("token", ["", "1-1-", "1-4-AAAAAAAAAAAAAAAAAAAA", "１-1-x", "0-1-x"])
def test_malformed_tokens_are_none(token: str) -> None:
    assert read_token("k" * 32, token) is None
