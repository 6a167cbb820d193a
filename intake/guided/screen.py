"""What a chat message says before the conversation acts on it: a place named, something to file
at once, or a matter for the core (a status query, an existing ticket) that no draft may take."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from intake.guided.catalogue import GuidedCatalogue
from intake.pipeline.intent import STATUS_WORDS, TICKET_NUMBER, normalized
from intake.triage import Triage

# a query code has letters; eight digits alone are more likely part of a phone number
QUERY_CODE = re.compile(r"(?<![A-Z0-9])(?=[2-9]*[A-HJ-NP-Z])[2-9A-HJ-NP-Z]{8}(?![A-Z0-9])")


@dataclass(frozen=True, slots=True)
class Screened:
    names_place: bool
    file_now: bool  # an emergency, urgent, out of scope or answered from the knowledge base


class Screen:
    """Looks at a text with the catalogue's address patterns and, when enabled, triage."""

    def __init__(self, catalogue: GuidedCatalogue, triage: Triage | None) -> None:
        self._catalogue, self._triage = catalogue, triage

    def check(self, text: str) -> Screened:
        address = self._catalogue.names_address(text)
        if self._triage is None:
            return Screened(address, False)
        decision = self._triage.assess(text)
        place = address or decision.routing.district is not None
        special = decision.emergency, decision.out_of_scope, decision.kb_answer
        return Screened(place, decision.urgent or any(x is not None for x in special))


def passes_through(text: str) -> bool:
    """Status queries and messages about an existing ticket are the core's, never a draft's."""
    upper = unicodedata.normalize("NFKC", text).upper()
    return (
        normalized(text) in STATUS_WORDS
        or TICKET_NUMBER.search(upper) is not None
        or QUERY_CODE.search(upper) is not None
    )
