"""Sign-in, sessions, CSRF and lock-out of the staff console, over HTTP."""

from __future__ import annotations

import time

import httpx

from intake.console.accounts import set_password
from intake.console.session import COOKIE, SessionCodec, new_session
from intake.domain.enums import Role
from tests.console.conftest import Console
from tests.console.helpers import PASSWORD, csrf_of, make_staff, sign_in


async def test_sign_in_sets_a_protected_cookie_and_opens_the_inbox(console: Console) -> None:
    await make_staff(console.runtime, "wang", Role.AGENT)
    page = await console.http.get("/console/login")
    assert page.status_code == 200
    for word in ("登录", "用户名", "密码"):
        assert word in page.text
    answer = await sign_in(console.http, "wang")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/inbox"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; HTTPS public URLs get Secure
    inbox = await console.http.get("/console/inbox")
    assert inbox.status_code == 200 and "待受理" in inbox.text
    assert inbox.headers["cache-control"] == "no-store"


async def test_without_a_session_pages_send_to_sign_in(console: Console) -> None:
    for path in ("/console/inbox", "/console/tickets/2026010100001", "/console/admin/staff"):
        answer = await console.http.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
    console.http.cookies.set(COOKIE, "forged.value.here", domain="testserver.local")
    assert (await console.http.get("/console/inbox")).status_code == 303


async def test_sign_in_without_csrf_is_refused(console: Console) -> None:
    await make_staff(console.runtime, "wang", Role.AGENT)
    await console.http.get("/console/login")
    answer = await console.http.post(
        "/console/login", data={"username": "wang", "password": PASSWORD, "csrf": "guess"}
    )
    assert answer.status_code == 403
    assert (await console.http.get("/console/inbox")).status_code == 303


async def test_wrong_password_and_lock_out(console: Console) -> None:
    await make_staff(console.runtime, "li", Role.AGENT)
    for _ in range(5):
        failed = await sign_in(console.http, "li", "wrong password!!")
        assert failed.status_code == 401 and "用户名或密码错误" in failed.text
    locked = await sign_in(console.http, "li")  # the right password, but locked out
    assert locked.status_code == 429 and "锁定" in locked.text
    assert int(locked.headers["retry-after"]) > 0
    assert (await console.http.get("/console/inbox")).status_code == 303
    other = await make_staff(console.runtime, "zhao", Role.AGENT)
    assert other  # another account signs in from elsewhere
    transport = httpx.ASGITransport(app=console.app, client=("10.1.2.3", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await sign_in(http, "zhao")).status_code == 303


async def test_unknown_name_fails_like_a_wrong_password(console: Console) -> None:
    answer = await sign_in(console.http, "nobody", "whatever password")
    assert answer.status_code == 401 and "用户名或密码错误" in answer.text


async def test_sign_out_and_password_change_end_the_session(console: Console) -> None:
    await make_staff(console.runtime, "sun", Role.SUPERVISOR)
    assert (await sign_in(console.http, "sun")).status_code == 303
    inbox = await console.http.get("/console/inbox")
    out = await console.http.post("/console/logout", data={"csrf": csrf_of(inbox.text)})
    assert out.status_code == 303
    assert (await console.http.get("/console/inbox")).status_code == 303

    assert (await sign_in(console.http, "sun")).status_code == 303
    async with console.runtime.db.write() as session, session.begin():
        await set_password(session, name="sun", password="a brand new password")
    assert (await console.http.get("/console/inbox")).status_code == 303


async def test_bearer_tokens_keep_working_for_the_api(console: Console) -> None:
    token = await make_staff(console.runtime, "api", Role.AGENT)
    listed = await console.http.get(
        "/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200


def test_idle_sessions_expire() -> None:
    """A cookie last renewed longer ago than the idle time is no session any more."""
    from starlette.requests import Request
    from starlette.responses import Response

    codec = SessionCodec(secret="s" * 40, idle_seconds=60, https=True)
    scope = {"type": "http", "headers": [], "scheme": "https", "path": "/console",
             "query_string": b"", "server": ("x", 443)}
    response = Response()
    codec.write(response, Request(scope), new_session(7, 0))
    header = response.headers["set-cookie"]
    assert "Secure" in header
    value = header.split(";")[0].split("=", 1)[1]
    fresh = Request({**scope, "headers": [(b"cookie", f"{COOKIE}={value}".encode())]})
    assert codec.read(fresh) is not None and codec.read(fresh).staff_id == 7  # type: ignore[union-attr]
    signer = codec._signer  # the cookie as it would have been signed two minutes ago
    old = signer.make_signer(signer.salt)
    old.get_timestamp = lambda: int(time.time()) - 120  # type: ignore[method-assign]
    stale = old.sign(signer.dump_payload({"c": "x", "s": 7, "v": 0})).decode()
    request = Request({**scope, "headers": [(b"cookie", f"{COOKIE}={stale}".encode())]})
    assert codec.read(request) is None
