"""来电录入 in a real browser: the caller's earlier ticket appears while the number is typed,
the call is linked to it, and a knowledge-base answer given on the call (直接答复) closes the
new ticket; on a 390-pixel-wide screen, by keyboard where it matters."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from intake.domain.enums import Role
from intake.domain.models import Ticket
from tests.console.browser import chromium_path, serve
from tests.console.conftest import Console
from tests.console.helpers import PASSWORD, make_staff, web_request
from tests.core.helpers import drain

KB_QUESTION = "我的社保卡不小心弄丢了，要怎么补办？"


@pytest.fixture
async def live(console: Console) -> AsyncIterator[str]:
    async for url in serve(console.app):
        yield url


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    path = chromium_path()
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        await launched.close()


async def _agent(browser: Browser, live: str) -> Page:
    context = await browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    page = await context.new_page()
    await page.goto(f"{live}/console")
    await page.get_by_label("用户名").fill("huawu")
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.get_by_role("link", name="来电录入").click()
    await expect(page.get_by_role("heading", name="来电录入")).to_be_visible()
    return page


async def _ticket(console: Console, number: str) -> Ticket:
    async with console.runtime.db.read() as session:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.number == number).options(selectinload(Ticket.events))
        )
    assert ticket is not None
    return ticket


async def _fits(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"


async def test_an_agent_links_a_repeat_call_and_answers_a_new_one(
    console: Console, live: str, browser: Browser
) -> None:
    runtime = console.runtime
    await make_staff(runtime, "huawu", Role.AGENT)
    earlier = await web_request(console.http, runtime)  # the caller wrote on the web before
    page = await _agent(browser, live)

    # 来电弹屏: the earlier ticket appears while the number is typed
    await page.get_by_label("来电号码").press_sequentially("138 1234 5678", delay=20)
    await expect(page.locator("#caller").get_by_role("link", name=earlier)).to_be_visible()
    await page.get_by_label("来电号码").press("Enter")  # links nothing by itself
    await expect(page.locator("#call-result")).to_have_count(0)
    await page.get_by_label("内容", exact=True).fill("烧烤店今晚又开始排油烟了，请尽快处理")
    await _fits(page)
    await page.get_by_role("button", name=f"关联到 {earlier}").click()
    await expect(page.locator("#call-result")).to_contain_text(f"已关联到工单 {earlier}")
    await drain(runtime)
    linked = await _ticket(console, earlier)
    assert [e.text for e in linked.events if e.kind == "follow_up"] == [
        "烧烤店今晚又开始排油烟了，请尽快处理"
    ]

    # a new question the knowledge base answers: 直接答复 closes the ticket
    await page.get_by_role("link", name="录入下一个来电").click()
    await page.get_by_label("来电号码").fill("13900001111")
    await page.get_by_label("诉求类型").select_option("consultation")
    await page.get_by_label("内容", exact=True).fill(KB_QUESTION)
    await page.get_by_label("匿名").check()
    use = page.get_by_role("button", name="采用此答复").first
    await expect(use).to_be_visible()
    await expect(page.locator("#suggest-department")).not_to_have_text("—")
    await _fits(page)
    await use.focus()
    await page.keyboard.press("Enter")  # by keyboard
    answer = await page.get_by_label("答复内容（直接答复时填写）").input_value()
    assert answer, "the knowledge-base answer fills the answer"
    await page.get_by_role("button", name="直接答复").click()
    await expect(page.locator("#call-result")).to_contain_text("已直接答复并办结")
    number = (await page.locator("#call-result a").first.inner_text()).strip()
    await drain(runtime)
    ticket = await _ticket(console, number)
    assert ticket.channel == "phone" and ticket.status == "closed" and ticket.anonymous
    closed = next(e for e in ticket.events if e.kind == "closed")
    assert closed.text == answer and closed.data["resolution"] == "direct_answer"
    assert closed.data["kb_entry"] == "sscard-replace"
    await page.locator("#call-result a").first.click()
    await expect(page.locator("#status")).to_have_text("已办结")

    # an ordinary call is filed (提交) and told its number and query code
    await page.goto(f"{live}/console/calls/new")
    await page.get_by_label("来电号码").fill("13900002222")
    await page.get_by_label("内容", exact=True).fill("人民路路灯坏了一个星期，晚上很黑")
    await page.get_by_label("地址").fill("人民路")
    await page.get_by_role("button", name="提交").click()
    await expect(page.locator("#call-code")).to_have_text(re.compile(r"^[2-9A-Z]{8}$"))
    await _fits(page)
