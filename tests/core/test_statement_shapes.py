"""Batch-sized statements come in a few shapes only, and mean the same as before."""

from __future__ import annotations

from intake.storage.sql_shapes import padded, power_of_two_chunks


def test_padding_keeps_the_set_and_makes_few_sizes() -> None:
    sizes = set()
    for n in range(1, 201):
        values = list(range(n))
        out = padded(values)
        assert set(out) == set(values) and out[:n] == values
        sizes.add(len(out))
    assert sizes == {1, 2, 4, 8, 16, 32, 64, 128, 256}
    assert padded([]) == []


def test_chunks_cover_everything_in_order_with_power_of_two_lengths() -> None:
    for n in range(0, 300):
        items = list(range(n))
        chunks = list(power_of_two_chunks(items))
        assert [x for chunk in chunks for x in chunk] == items
        assert all(len(c) & (len(c) - 1) == 0 and len(c) <= 128 for c in chunks)
