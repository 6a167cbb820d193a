"""Fast flush of new rows: one multi-row INSERT … RETURNING per table instead of the unit of work.

The pipeline creates five or six new objects per ticket (citizen, identity, ticket, message,
events); the ORM's unit of work spends most of a batch's time on bookkeeping for them. Before
a flush, objects whose parents already have primary keys are inserted here table by table
(in foreign-key order) and then attached to the session as persistent, so the regular flush
only handles what is left (updates of loaded rows, and any new object this code cannot place).

Enabled per session with `enable(session)`; everything else keeps the plain ORM flush.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import Column, Connection, Dialect, Table, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.interfaces import MANYTOONE

from intake.domain.models import Base
from intake.storage.sql_shapes import power_of_two_chunks

_FLAG = "bulk_insert_new"
_TABLE_ORDER = {table: i for i, table in enumerate(Base.metadata.sorted_tables)}


def enable(session: AsyncSession) -> None:
    session.sync_session.info[_FLAG] = True


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_FLAG) and session.new:
        insert_new(session)


def insert_new(session: Session) -> int:
    """Insert the pending objects that can be placed; returns how many were inserted."""
    by_mapper: dict[Mapper[Any], list[Any]] = defaultdict(list)
    for obj in session.new:
        mapper = obj.__mapper__
        if mapper.local_table in _TABLE_ORDER and not mapper.inherits:
            by_mapper[mapper].append(obj)
    done: set[int] = set()  # id() of objects inserted in this call
    inserted: list[Any] = []
    with session.no_autoflush:
        for mapper in sorted(by_mapper, key=lambda m: _TABLE_ORDER[m.local_table]):
            ready = [o for o in by_mapper[mapper] if _parents_ready(mapper, o, done)]
            if not ready:
                continue
            _insert(session, mapper, ready)
            done.update(id(o) for o in ready)
            inserted.extend(ready)
        # pending → persistent as the unit of work does after its own INSERTs: identity key,
        # identity map, committed attribute state, and the transaction's list of new rows
        session._register_persistent({obj._sa_instance_state for obj in inserted})
    return len(inserted)


def _parents_ready(mapper: Mapper[Any], obj: Any, done: set[int]) -> bool:
    """Every many-to-one parent this object points at has its primary key already."""
    state = obj.__dict__
    for rel in mapper.relationships:
        if rel.direction is not MANYTOONE or rel.key not in state:
            continue
        parent = state[rel.key]
        if parent is None or id(parent) in done:
            continue
        if parent._sa_instance_state.key is None:  # new, and not placed above
            return False
    return True


def _insert(session: Session, mapper: Mapper[Any], objects: list[Any]) -> None:
    table = mapper.local_table
    assert isinstance(table, Table)
    (pk,) = mapper.primary_key
    pk_key = mapper.get_property_by_column(pk).key
    rows = [_row(mapper, obj, pk_key) for obj in objects]
    groups: dict[frozenset[str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[frozenset(row)].append(i)
    connection = session.connection(bind_arguments={"mapper": mapper})
    if connection.dialect.name == "sqlite":
        _insert_numbered(connection, table, pk, rows)
        for obj, row in zip(objects, rows, strict=True):
            obj.__dict__[pk_key] = row[pk.key]
        return
    if connection.dialect.name == "postgresql":
        for indexes in groups.values():
            keys = _insert_arrays(connection, table, pk, [rows[i] for i in indexes])
            for i, key in zip(indexes, keys, strict=True):
                objects[i].__dict__[pk_key] = key
        return
    statement = insert(table).returning(pk, sort_by_parameter_order=True)
    for indexes in groups.values():
        for chunk in power_of_two_chunks(indexes):  # a few statement texts, each prepared once
            result = connection.execute(statement, [rows[i] for i in chunk])
            for i, (key,) in zip(chunk, result.all(), strict=True):
                objects[i].__dict__[pk_key] = key


def _insert_arrays(
    connection: Connection, table: Table, pk: Column[Any], rows: list[dict[str, Any]]
) -> list[Any]:
    """PostgreSQL: every row of one column set in one statement, one array parameter per
    column (`INSERT … SELECT … FROM unnest(…)`), whatever the number of rows: one prepared
    statement per column set, and the values go to asyncpg's encoder as they are instead of
    through SQLAlchemy's many-values rendering, which cost most of a batch's CPU.

    The keys come from the table's sequence in the order the rows are inserted (`ORDER BY`
    the position), so sorted they line up with the rows: SQLAlchemy's own insertmanyvalues
    relies on the same."""
    shape = _array_statement(connection.dialect, table, pk, tuple(rows[0]))
    arrays = tuple(
        [row[name] for row in rows] if process is None else [process(row[name]) for row in rows]
        for name, process in shape.columns
    )
    keys = sorted(key for (key,) in connection.exec_driver_sql(shape.sql, arrays))
    if len(keys) != len(rows):
        raise RuntimeError(f"{table.name}: {len(rows)} rows inserted, {len(keys)} keys returned")
    return keys


class _ArrayStatement(NamedTuple):
    sql: str
    columns: tuple[tuple[str, Callable[[Any], Any] | None], ...]


_ARRAY_STATEMENTS: dict[tuple[str, tuple[str, ...]], _ArrayStatement] = {}


def _array_statement(
    dialect: Dialect, table: Table, pk: Column[Any], names: tuple[str, ...]
) -> _ArrayStatement:
    key = (table.name, names)
    shape = _ARRAY_STATEMENTS.get(key)
    if shape is None:
        preparer = dialect.identifier_preparer
        columns = [table.c[name] for name in names]
        quoted = ", ".join(preparer.quote(c.name) for c in columns)
        arrays = ", ".join(
            f"${n}::{c.type.compile(dialect=dialect)}[]" for n, c in enumerate(columns, start=1)
        )
        sql = (
            f"INSERT INTO {preparer.format_table(table)} ({quoted}) "
            f"SELECT {quoted} FROM unnest({arrays}) WITH ORDINALITY AS v({quoted}, _position) "
            f"ORDER BY _position RETURNING {preparer.quote(pk.name)}"
        )
        processors = tuple((c.key, c.type._cached_bind_processor(dialect)) for c in columns)
        shape = _ARRAY_STATEMENTS[key] = _ArrayStatement(sql, processors)
    return shape


def _row(mapper: Mapper[Any], obj: Any, pk_key: str) -> dict[str, Any]:
    """The object's column values, foreign keys from its parents, Python-side defaults filled."""
    state = obj.__dict__
    for rel in mapper.relationships:
        if rel.direction is not MANYTOONE or rel.key not in state:
            continue
        parent = state[rel.key]
        for local, remote in rel.local_remote_pairs:
            local_key = mapper.get_property_by_column(local).key
            value = None
            if parent is not None:
                remote_key = rel.mapper.get_property_by_column(remote).key
                value = parent.__dict__.get(remote_key)
            state[local_key] = value
    row: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        key = prop.key
        column = prop.columns[0]
        if key not in state:
            if key == pk_key:
                continue
            default = column.default
            if default is None:
                value = None
            elif default.is_callable:
                value = default.arg(None)  # type: ignore[union-attr, operator]
            elif default.is_scalar:
                value = default.arg  # type: ignore[union-attr]
            else:
                continue  # a SQL expression default: let the database apply it
            state[key] = value
        row[column.key] = state[key]
    return row


def _insert_numbered(connection: Any, table: Table, pk: Any, rows: list[dict[str, Any]]) -> None:
    """SQLite: the keys are given here, after the table's highest, and the rows go in one
    `executemany`. SQLite cannot promise RETURNING in row order, so SQLAlchemy would insert
    them one statement at a time; the writer holds the database (BEGIN IMMEDIATE), so nobody
    else can take these keys between the read and the insert."""
    highest = connection.execute(select(func.max(pk))).scalar() or 0
    for offset, row in enumerate(rows, start=1):
        row[pk.key] = highest + offset
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[frozenset(row)].append(row)
    for same_columns in groups.values():
        connection.execute(insert(table), same_columns)
