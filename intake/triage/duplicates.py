"""Is this the same problem? Text resemblance and nearness of places, cheap enough per request.

Generic text similarity cannot tell "the street light is broken" from "the bin is full" in the
same estate: most characters are shared. What two reports of one problem share is the words
that name the problem (the category catalogue's keywords), the place (gazetteer names, house
numbers) and much of the wording; `resemblance` blends the share of those key terms with the
share of character pairs. No jieba here: features must cost microseconds, because every new
request is compared with the open tickets near it (cached per text, so a hot ticket is
featurised once per process).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from intake.triage.engine import Triage
from intake.triage.text import char_ngrams, normalise

TERM_WEIGHT = 0.5
NUMBER_CONFLICT = 0.5
EARTH_RADIUS_M = 6_371_000.0
# house numbers, buildings, units: "12号", "3栋", "5号楼" (digits are folded by NFKC first);
# the number alone is kept, "12号楼下" and "12号" being the same house
_NUMBERED = re.compile(r"(\d+)(?:号|栋|幢|单元|弄|巷|组)")


@dataclass(frozen=True, slots=True)
class Features:
    """What is compared: key terms (problem words, places, numbers) and character pairs."""

    terms: frozenset[str]
    bigrams: frozenset[str]
    numbers: frozenset[str] = frozenset()


@lru_cache(maxsize=4096)
def features(triage: Triage, text: str) -> Features:
    normalised = normalise(text)
    numbers = frozenset(f"#{n}" for n in _NUMBERED.findall(normalised))
    terms = triage.key_terms(normalised) | numbers
    return Features(terms, frozenset(char_ngrams(normalised, 2)), numbers)


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def resemblance(a: Features, b: Features) -> float:
    """In [0, 1]; character pairs alone when either text has no key term. Different house
    numbers on both sides ("12号" and "18号") halve it: two shops, not one."""
    chars = _dice(a.bigrams, b.bigrams)
    score = chars
    if a.terms and b.terms:
        score = TERM_WEIGHT * _dice(a.terms, b.terms) + (1 - TERM_WEIGHT) * chars
    if a.numbers and b.numbers and not a.numbers & b.numbers:
        score *= NUMBER_CONFLICT
    return round(score, 4)


def shared_terms(a: Features, b: Features) -> tuple[str, ...]:
    return tuple(sorted(a.terms & b.terms))


@dataclass(frozen=True, slots=True)
class Place:
    """Where a ticket is: routing's district and street, the channel's coordinates."""

    district: str | None = None
    street: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def has_point(self) -> bool:
        return self.latitude is not None and self.longitude is not None


def distance_m(a: Place, b: Place) -> float:
    """Great-circle distance (haversine); both places must have coordinates."""
    assert a.latitude is not None and a.longitude is not None
    assert b.latitude is not None and b.longitude is not None
    phi1, phi2 = math.radians(a.latitude), math.radians(b.latitude)
    dphi = phi2 - phi1
    dlmb = math.radians(b.longitude - a.longitude)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def nearness(a: Place, b: Place, *, radius_m: float) -> str | None:
    """How the two places agree: "point" (within the radius), "street", "district", or None.

    Coordinates are the strongest evidence and decide alone when both have them; then the
    street; a shared district alone is weak (the caller asks for more similar text).
    """
    if a.has_point and b.has_point:
        return "point" if distance_m(a, b) <= radius_m else None
    if a.street and b.street:
        return "street" if a.street == b.street else None
    if a.district and a.district == b.district:
        return "district"
    return None


def degrees_around(latitude: float, radius_m: float) -> tuple[float, float]:
    """Half-widths (latitude, longitude degrees) of a box holding the circle: an index range."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = dlat / max(0.01, math.cos(math.radians(latitude)))
    return dlat, dlon
