"""Few distinct SQL texts for statements whose size follows the batch.

PostgreSQL drivers prepare each distinct statement text once per connection and reuse it; an
`IN (…)` list or a multi-row `INSERT … VALUES` with as many parameters as the batch has rows
is a new text for almost every batch, so it was parsed and prepared every time, and asyncpg
built codecs for hundreds of parameters each time. Padding `IN` lists and splitting inserts
to powers of two leaves a handful of texts per statement, all prepared once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def padded(values: Sequence[T]) -> list[T]:
    """`values` with its last item repeated up to a power of two: same `IN (…)` result."""
    items = list(values)
    if len(items) > 1:
        size = 1 << (len(items) - 1).bit_length()
        items.extend([items[-1]] * (size - len(items)))
    return items


def power_of_two_chunks(items: Sequence[T], largest: int = 128) -> Iterator[Sequence[T]]:
    """Consecutive slices of `items` whose lengths are powers of two (at most `largest`)."""
    start = 0
    while start < len(items):
        size = min(largest, 1 << ((len(items) - start).bit_length() - 1))
        yield items[start : start + size]
        start += size
