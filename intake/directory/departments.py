"""Departments (承办单位) in the database: the one source that routing, alerts and reports read.

The shipped `intake/data/departments.yaml` (or `INTAKE_CATALOG__DEPARTMENTS_FILE`) seeds the
table on the first start; from then on administrators edit departments in the staff console,
and every process reads the table (a `Catalog` built from it).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Boolean, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from intake.catalog import Catalog, Department
from intake.domain.clock import utcnow
from intake.domain.errors import InvalidInput
from intake.domain.models import Base
from intake.storage.database import Database


class DepartmentRecord(Base):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    hotline: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


async def seed_departments(session: AsyncSession, *, departments_file: Path | None) -> int:
    """Fill an empty table from the data file; a table with rows is left as it is."""
    if await session.scalar(select(func.count()).select_from(DepartmentRecord)):
        return 0
    shipped = Catalog.load(departments_file)
    for d in shipped.departments.values():
        session.add(DepartmentRecord(code=d.code, name=d.name, hotline=d.hotline, active=True))
    await session.flush()
    return len(shipped.departments)


async def load_catalog(session: AsyncSession) -> Catalog:
    """The active departments as the `Catalog` that dispatch checks codes against."""
    rows = await session.scalars(
        select(DepartmentRecord).where(DepartmentRecord.active).order_by(DepartmentRecord.code)
    )
    return Catalog(
        departments={r.code: Department(code=r.code, name=r.name, hotline=r.hotline) for r in rows}
    )


async def open_catalog(db: Database, *, departments_file: Path | None) -> Catalog:
    """Seed on the first start (two processes starting at once: one wins), then read."""
    try:
        async with db.write() as session, session.begin():
            await seed_departments(session, departments_file=departments_file)
    except IntegrityError:
        pass  # another process seeded the same rows first
    async with db.read() as session:
        return await load_catalog(session)


async def all_departments(session: AsyncSession) -> list[DepartmentRecord]:
    return list(await session.scalars(select(DepartmentRecord).order_by(DepartmentRecord.code)))


async def save_department(
    session: AsyncSession, *, code: str, name: str, hotline: str | None, active: bool
) -> DepartmentRecord:
    """Create or change a department; codes are stable identifiers and never renamed."""
    code, name = code.strip(), name.strip()
    if not code or len(code) > 64 or not code.replace("-", "").isalnum():
        raise InvalidInput("department code: letters, digits and '-' only", field="code")
    if not name or len(name) > 100:
        raise InvalidInput("department name is empty or too long", field="name")
    record = await session.get(DepartmentRecord, code)
    if record is None:
        record = DepartmentRecord(code=code, name=name)
        session.add(record)
    record.name, record.hotline, record.active = name, (hotline or "").strip() or None, active
    await session.flush()
    return record
