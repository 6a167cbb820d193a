"""Finding the district (属地) a request is about, from the text or the location label.

Locality first (属地优先): a district named outright counts most, a street or town less, a
landmark least; the place named in the text wins over the channel's location label because the
citizen may write from home about a problem elsewhere. The label is the fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from intake.triage.catalogue import District
from intake.triage.text import Hit, Matcher

PLACE = "place"
WEIGHTS = {"district": 3.0, "street": 2.0, "place": 1.0}


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    district: District
    street: str | None
    matched: tuple[str, ...]
    score: float


def register(matcher: Matcher, districts: Sequence[District]) -> None:
    for index, district in enumerate(districts):
        for name in (district.name, *district.aliases):
            matcher.add((PLACE, index, "district"), name, WEIGHTS["district"])
        for street in district.streets:
            matcher.add((PLACE, index, "street"), street, WEIGHTS["street"])
        for place in district.places:
            matcher.add((PLACE, index, "place"), place, WEIGHTS["place"])


def locate(hits: Sequence[Hit], districts: Sequence[District]) -> PlaceMatch | None:
    """The district with the most place evidence; ties go to the one named first."""
    scores: dict[int, float] = {}
    first: dict[int, int] = {}
    words: dict[int, list[str]] = {}
    streets: dict[int, str] = {}
    for hit in hits:
        _, index, kind = hit.key
        scores[index] = scores.get(index, 0.0) + hit.weight
        first[index] = min(first.get(index, hit.start), hit.start)
        words.setdefault(index, []).append(hit.keyword)
        if kind == "street":
            streets.setdefault(index, hit.keyword)
    if not scores:
        return None
    index = min(scores, key=lambda i: (-scores[i], first[i]))
    return PlaceMatch(districts[index], streets.get(index), tuple(words[index]), scores[index])
