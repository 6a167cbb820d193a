"""The closed loop in a real browser: sign-in, inboxes, every action, the audited reveal, an
anonymous ticket seen by a handler, new tickets appearing without a reload, the keyboard and a
390-pixel-wide screen."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from sqlalchemy import select
from typer import Typer
from typer.testing import CliRunner

from intake.config import Settings
from intake.console.cli import register
from intake.domain.enums import Role
from intake.domain.models import Ticket
from tests.console.browser import chromium_path, serve
from tests.console.conftest import Console
from tests.console.helpers import PASSWORD, make_staff, web_request
from tests.core.helpers import drain, request_body


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


async def _signed_in(browser: Browser, live: str, name: str, **options: object) -> Page:
    context: BrowserContext = await browser.new_context(locale="zh-CN", **options)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    page = await context.new_page()
    await page.goto(f"{live}/console")
    await page.get_by_label("用户名").fill(name)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    return page


async def _open(page: Page, live: str, number: str, box: str | None = None) -> None:
    await page.goto(f"{live}/console/inbox" + (f"?box={box}" if box else ""))
    await page.get_by_role("link", name=number).click()
    await expect(page.get_by_role("heading", name=re.compile(number))).to_be_visible()


async def _citizen_looks_up(page: Page, live: str, number: str, code: str) -> None:
    await page.goto(f"{live}/status")
    await page.get_by_label("工单编号").fill(number)
    await page.get_by_label("查询码或手机号码").fill(code)
    await page.get_by_role("button", name="查询").click()
    await expect(page.get_by_text(number)).to_be_visible()


async def _status(console: Console, number: str) -> Ticket:
    async with console.runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None
    return ticket


def _cli_add(settings: Settings, *args: str) -> str:
    group = Typer()
    register(group, settings_loader=lambda _: settings)
    result = CliRunner().invoke(group, ["add", *args, "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


async def test_the_closed_loop_in_the_browser(
    console: Console, live: str, browser: Browser, settings: Settings
) -> None:
    runtime = console.runtime
    await asyncio.to_thread(_cli_add, settings, "xiaowang", "--role", "agent")
    created = await console.http.post("/api/v1/requests", json=request_body())
    number, code = created.json()["number"], created.json()["query_code"]
    await drain(runtime)

    agent = await _signed_in(browser, live, "xiaowang")
    await expect(agent.get_by_role("heading", name="待受理")).to_be_visible()
    await _open(agent, live, number)
    await agent.get_by_role("button", name="受理", exact=True).click()
    await expect(agent.locator("#status")).to_have_text("已受理")
    suggested = await agent.get_by_label("承办单位", exact=True).input_value()
    assert suggested, "the suggested department is preselected"
    await agent.get_by_role("button", name="派单").click()
    await expect(agent.locator("#status")).to_have_text("已派单")
    department = (await _status(console, number)).department
    assert department == suggested

    await asyncio.to_thread(
        _cli_add, settings, "chengban", "--role", "handler", "--department", str(department)
    )
    handler = await _signed_in(browser, live, "chengban")
    await expect(handler.get_by_role("heading", name="待办")).to_be_visible()
    await _open(handler, live, number)
    await handler.get_by_role("button", name="受理", exact=True).click()
    await expect(handler.locator("#status")).to_have_text("办理中")
    await handler.get_by_label("需要群众补充的信息").fill("请提供烧烤店的门牌号")
    await handler.get_by_role("button", name="补充信息").click()
    await expect(handler.get_by_text("暂停计时").first).to_be_visible()

    citizen = await (await browser.new_context(locale="zh-CN")).new_page()
    await _citizen_looks_up(citizen, live, number, code)
    await expect(citizen.get_by_text("请提供烧烤店的门牌号")).to_be_visible()
    await citizen.get_by_label("补充信息").fill("门牌号是幸福路12号")
    await citizen.get_by_role("button", name="提交补充").click()
    await expect(citizen.get_by_text("已收到您的补充信息")).to_be_visible()
    await drain(runtime)  # the pipeline files the answer as the ticket's follow-up
    await handler.reload()
    await expect(handler.get_by_text("门牌号是幸福路12号")).to_be_visible()
    assert (await _status(console, number)).waiting_since is None
    await handler.get_by_label("答复内容").fill("已责令烧烤店加装油烟净化设备。")
    await handler.get_by_role("button", name="答复").click()
    await expect(handler.locator("#status")).to_have_text("已答复")

    await agent.reload()
    await expect(agent.get_by_text("已责令烧烤店加装油烟净化设备。")).to_be_visible()
    await agent.get_by_role("button", name="办结").click()
    await expect(agent.locator("#status")).to_have_text("已办结")
    public = await console.http.get(f"/api/v1/requests/{number}", params={"phone": "13812345678"})
    assert public.json()["status"] == "closed"  # the citizen's status page agrees

    await _citizen_looks_up(citizen, live, number, code)
    await citizen.get_by_role("button", name="不满意").click()
    await expect(citizen.get_by_text("重新办理并纳入督办")).to_be_visible()
    reopened = await _status(console, number)
    assert reopened.status == "reopened" and reopened.supervision

    await make_staff(runtime, "dubanyuan", Role.SUPERVISOR)
    supervisor = await _signed_in(browser, live, "dubanyuan")
    await expect(supervisor.get_by_role("link", name=number)).to_be_visible()  # 督办
    await supervisor.goto(f"{live}/console/inbox?box=unsatisfied")
    await expect(supervisor.get_by_role("link", name=number)).to_be_visible()
    await supervisor.get_by_role("link", name=number).click()
    await supervisor.get_by_role("button", name="派单").click()
    await expect(supervisor.locator("#status")).to_have_text("已派单")
    timeline = supervisor.locator("#timeline")
    words = ("受理", "派单", "请群众补充信息", "群众已补充", "答复", "办结", "评价", "重新办理")
    for word in words:
        await expect(timeline.get_by_text(word, exact=True).first).to_be_visible()


async def test_more_actions_in_the_browser(console: Console, live: str, browser: Browser) -> None:
    """备注, 改类, 延期 / 批准延期, 退单, 结束等待, 不予受理 and the direct answer."""
    runtime = console.runtime
    await make_staff(runtime, "agent", Role.AGENT)
    await make_staff(runtime, "env", Role.HANDLER, "environment")
    await make_staff(runtime, "boss", Role.SUPERVISOR)
    first = await web_request(console.http, runtime)
    second = await web_request(
        console.http, runtime, phone="13900001111", content="咨询公积金提取需要哪些材料，谢谢。"
    )
    third = await web_request(
        console.http, runtime, phone="13900002222", content="我家楼下的路灯坏了两周了，晚上很黑。"
    )

    agent = await _signed_in(browser, live, "agent")
    await _open(agent, live, first)
    await agent.get_by_label("备注内容").fill("已电话联系群众")
    await agent.get_by_role("button", name="备注").click()
    await expect(agent.locator("#timeline").get_by_text("已电话联系群众")).to_be_visible()
    await agent.get_by_label("类型").select_option("report")
    await agent.get_by_role("button", name="改类").click()
    await expect(agent.get_by_text("举报").first).to_be_visible()
    await agent.get_by_role("button", name="受理", exact=True).click()
    await agent.get_by_label("承办单位", exact=True).select_option("environment")
    await agent.get_by_role("button", name="派单").click()
    await expect(agent.locator("#status")).to_have_text("已派单")

    handler = await _signed_in(browser, live, "env")
    await _open(handler, live, first)
    await handler.get_by_label("延期天数（工作日）").fill("5")
    await handler.get_by_label("延期理由").fill("需要联合执法")
    await handler.get_by_role("button", name="延期").click()
    await expect(handler.get_by_text("需要联合执法").first).to_be_visible()

    boss = await _signed_in(browser, live, "boss")
    await boss.goto(f"{live}/console/inbox?box=extensions")
    await boss.get_by_role("link", name=first).click()
    await boss.get_by_role("button", name="批准延期").click()
    await expect(boss.locator("#timeline").get_by_text("批准延期")).to_be_visible()

    await handler.goto(f"{live}/console/inbox?box=extension_answers")
    await expect(handler.get_by_role("link", name=first)).to_be_visible()
    await handler.get_by_role("link", name=first).click()
    await handler.get_by_label("需要群众补充的信息").fill("请问具体时间？")
    await handler.get_by_role("button", name="补充信息").click()
    await handler.get_by_role("button", name="结束等待").click()
    await expect(handler.locator("#timeline").get_by_text("结束等待")).to_be_visible()
    await handler.get_by_label("退单理由").fill("不属于本单位职责")
    await handler.get_by_role("button", name="退单").click()
    await expect(handler.get_by_role("status")).to_have_text("已退单")
    assert (await _status(console, first)).status == "returned"
    await agent.goto(f"{live}/console/inbox?box=returned")
    await expect(agent.get_by_role("link", name=first)).to_be_visible()

    await _open(agent, live, second, box="all")
    await agent.get_by_role("button", name="受理", exact=True).click()
    await agent.get_by_label("直接答复内容").fill("请携带身份证和购房合同到公积金中心办理。")
    await agent.get_by_role("button", name="办结").click()
    await expect(agent.locator("#status")).to_have_text("已办结")

    await _open(agent, live, third, box="all")
    await agent.get_by_label("不予受理理由").fill("属于物业管理范围")
    await agent.get_by_label("建议渠道").fill("请联系小区物业")
    await agent.get_by_role("button", name="不予受理").click()
    await expect(agent.locator("#status")).to_have_text("已办结")
    assert (await _status(console, third)).category == "out-of-scope"


async def test_anonymous_ticket_reveal_and_new_tickets_without_reload(
    console: Console, live: str, browser: Browser
) -> None:
    runtime = console.runtime
    await make_staff(runtime, "agent", Role.AGENT)
    await make_staff(runtime, "env", Role.HANDLER, "environment")
    number = await web_request(console.http, runtime, anonymous=True)
    agent = await _signed_in(browser, live, "agent")
    await _open(agent, live, number)
    await expect(agent.locator("#contact-phone")).to_have_text("+86138****5678")
    await agent.get_by_label("查看原因").fill("核实诉求地址")
    await agent.get_by_role("button", name="显示完整号码").click()
    await expect(agent.locator("#contact-phone")).to_have_text("+8613812345678")
    await expect(agent.get_by_text("查看完整联系方式：核实诉求地址")).to_be_visible()
    await agent.get_by_role("button", name="受理", exact=True).click()
    await agent.get_by_label("承办单位", exact=True).select_option("environment")
    await agent.get_by_role("button", name="派单").click()

    handler = await _signed_in(browser, live, "env")
    await _open(handler, live, number)
    await expect(handler.locator("#contact-phone")).to_contain_text("匿名")
    await expect(handler.locator("#contact-name")).to_contain_text("匿名")
    assert "5678" not in await handler.content()
    await expect(handler.get_by_role("button", name="显示完整号码")).to_have_count(0)

    await agent.goto(f"{live}/console/inbox")
    newer = await web_request(console.http, runtime, phone="13900003333")
    await expect(agent.get_by_role("link", name=newer)).to_be_visible(timeout=30_000)
    await expect(agent.get_by_text("有 1 件新工单")).to_be_visible()


async def test_keyboard_and_a_narrow_screen(console: Console, live: str, browser: Browser) -> None:
    await make_staff(console.runtime, "agent", Role.AGENT)
    number = await web_request(console.http, console.runtime)
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{live}/console/login")
    await page.keyboard.type("agent")  # the name field has the focus
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="待受理")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page itself does not scroll sideways (the table does)"
    await page.get_by_role("link", name=number).focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=re.compile(number))).to_be_visible()
    accept = page.get_by_role("button", name="受理", exact=True)
    await accept.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#status")).to_have_text("已受理")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await context.close()
