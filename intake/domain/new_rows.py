"""New ORM objects without attribute events, for the pipeline's hot path.

A mapped class's constructor sets every keyword through the instrumented attribute: a change
event per column, and for a relationship a backref that appends to the parent's collection.
The pipeline builds five or six objects per ticket, and that bookkeeping is a large part of a
ticket's cost. `build` puts the values straight into the instance dict and
records a many-to-one parent as newly set, which is all a flush needs (`intake.storage.bulk_insert`
and the unit of work both read the instance dict; the unit of work takes foreign keys from the
relationship's history). What it skips: the parent's collection is not appended to, so an
object built here is not in, say, `ticket.events` until that collection is loaded again. Use
the plain constructor where a caller reads such a collection in the same session.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.base import NO_VALUE

T = TypeVar("T")


@cache
def _keys(cls: type) -> tuple[frozenset[str], frozenset[str]]:
    """(every mapped attribute, the relationships among them) of a mapped class."""
    mapper = inspect(cls)
    return frozenset(mapper.attrs.keys()), frozenset(mapper.relationships.keys())


def build(cls: type[T], **values: Any) -> T:
    """Like `cls(**values)` for a new object, minus the attribute events."""
    known, relationships = _keys(cls)
    unknown = values.keys() - known
    if unknown:
        raise TypeError(f"{cls.__name__} has no attribute(s) {sorted(unknown)}")
    obj: Any = cls._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    committed = obj._sa_instance_state.committed_state
    for key in relationships & values.keys():
        committed[key] = NO_VALUE  # history: "set from nothing", so flushes sync the FK
    obj.__dict__.update(values)
    return obj  # type: ignore[no-any-return]


def add(session: AsyncSession | Session, obj: object) -> None:
    """`session.add(obj)` without the save-update cascade walk over the object graph.

    The pipeline adds every new object itself, so the walk (which would find the same objects
    through their relationships) only costs time: a tenth of a ticket's.
    """
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    state = obj._sa_instance_state  # type: ignore[attr-defined]
    state._orphaned_outside_of_session = False
    sync._save_or_update_impl(state)
