"""Administrators' pages: staff accounts and departments (the table routing reads)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from intake.console import accounts
from intake.console.pages import Signed, check_csrf, render, require_role, runtime_of, signed_in
from intake.directory.contacts import ContactChange, masked_contact, set_contact
from intake.directory.departments import all_departments, load_catalog, save_department
from intake.domain.enums import Role
from intake.domain.errors import IntakeError
from intake.domain.models import Staff


def add_routes(api: APIRouter) -> None:
    api.add_api_route("/admin/staff", staff_page, methods=["GET"])
    api.add_api_route("/admin/staff", staff_add, methods=["POST"])
    api.add_api_route("/admin/staff/{staff_id}/disable", staff_disable, methods=["POST"])
    api.add_api_route("/admin/staff/{staff_id}/contact", staff_contact, methods=["POST"])
    api.add_api_route("/admin/departments", departments_page, methods=["GET"])
    api.add_api_route("/admin/departments", department_save, methods=["POST"])


async def _admin(request: Request) -> Signed:
    signed = await signed_in(request)
    require_role(signed, Role.ADMIN)
    return signed


async def _staff_view(
    request: Request, signed: Signed, *, notice: str | None = None, error: str | None = None,
    token: str | None = None, status_code: int = 200,
) -> Response:
    runtime = runtime_of(request)
    async with runtime.db.read() as db:
        context: dict[str, Any] = {
            "accounts": (listed := await accounts.list_accounts(db)),
            "contacts": {a.id: masked_contact(a.contact or {}) for a in listed},
            "departments": (await load_catalog(db)).departments,
            "roles": list(Role),
            "notice": notice,
            "error": error,
            "token": token,
        }
    return render(request, "admin_staff.html", context, signed=signed, status_code=status_code)


async def staff_page(request: Request) -> Response:
    return await _staff_view(request, await _admin(request))


async def staff_add(request: Request) -> Response:
    signed = await _admin(request)
    fields = await check_csrf(request, signed.session)
    runtime = runtime_of(request)
    try:
        async with runtime.db.write() as db, db.begin():
            staff, token = await accounts.create_account(
                db,
                name=str(fields.get("name", "")),
                role=accounts.parse_role(str(fields.get("role", ""))),
                department=str(fields.get("department") or "") or None,
                password=str(fields.get("password", "")),
                catalog=await load_catalog(db),
            )
            name = staff.name
    except IntakeError as exc:
        return await _staff_view(request, signed, error=str(exc), status_code=422)
    return await _staff_view(request, signed, notice=f"已创建账号 {name}", token=token)


async def staff_disable(request: Request, staff_id: int) -> Response:
    signed = await _admin(request)
    await check_csrf(request, signed.session)
    runtime = runtime_of(request)
    async with runtime.db.write() as db, db.begin():
        staff = await db.get(Staff, staff_id)
        if staff is None or staff.id == signed.staff.id:
            return await _staff_view(request, signed, error="不能停用这个账号", status_code=422)
        await accounts.disable(db, name=staff.name)
        name = staff.name
    return await _staff_view(request, signed, notice=f"已停用 {name}")


async def staff_contact(request: Request, staff_id: int) -> Response:
    """Where a staff member gets alerts (phone, e-mail, WeCom user id, the order to try): the
    same validation as `intake staff contact`. An empty field leaves that contact as it is
    (the page never shows the full values), "-" removes it."""
    signed = await _admin(request)
    fields = await check_csrf(request, signed.session)
    change = ContactChange(
        phone=_contact_field(fields, "phone"),
        email=_contact_field(fields, "email"),
        wecom_userid=_contact_field(fields, "wecom_userid"),
        prefer=_contact_field(fields, "prefer"),
    )
    runtime = runtime_of(request)
    try:
        async with runtime.db.write() as db, db.begin():
            staff = await set_contact(db, name=f"#{staff_id}", change=change)
            name = staff.name
    except IntakeError as exc:
        return await _staff_view(request, signed, error=str(exc), status_code=422)
    return await _staff_view(request, signed, notice=f"已更新 {name} 的提醒方式")


def _contact_field(fields: Any, name: str) -> str | None:
    value = str(fields.get(name, "")).strip()
    if not value:
        return None
    return "" if value == "-" else value


async def _departments_view(
    request: Request, signed: Signed, *, notice: str | None = None, error: str | None = None,
    status_code: int = 200,
) -> Response:
    runtime = runtime_of(request)
    async with runtime.db.read() as db:
        rows = await all_departments(db)
    context = {"rows": rows, "notice": notice, "error": error}
    return render(request, "admin_departments.html", context, signed=signed,
                  status_code=status_code)


async def departments_page(request: Request) -> Response:
    return await _departments_view(request, await _admin(request))


async def department_save(request: Request) -> Response:
    signed = await _admin(request)
    fields = await check_csrf(request, signed.session)
    runtime = runtime_of(request)
    try:
        async with runtime.db.write() as db, db.begin():
            record = await save_department(
                db,
                code=str(fields.get("code", "")),
                name=str(fields.get("name", "")),
                hotline=str(fields.get("hotline") or "") or None,
                active=fields.get("active") == "on",
            )
            code = record.code
    except IntakeError as exc:
        return await _departments_view(request, signed, error=str(exc), status_code=422)
    return await _departments_view(request, signed, notice=f"已保存 {code}")
