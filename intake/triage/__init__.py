"""Triage library for the 12345 intake: guards, classification, KB answers, routing, deadlines.

Pure and synchronous; build `Triage.load()` once at start-up and call `assess()` per request.
"""

from intake.triage.catalogue import CataloguePaths, load_catalogue
from intake.triage.engine import Triage
from intake.triage.models import (
    REQUEST_TYPES,
    Classification,
    Decision,
    EmergencyHit,
    KbAnswer,
    OutOfScopeHit,
    Routing,
    TriageDecision,
)
from intake.triage.similarity import Fingerprint, fingerprint, similar, similarity

__all__ = [
    "REQUEST_TYPES",
    "CataloguePaths",
    "Classification",
    "Decision",
    "EmergencyHit",
    "Fingerprint",
    "KbAnswer",
    "OutOfScopeHit",
    "Routing",
    "Triage",
    "TriageDecision",
    "fingerprint",
    "load_catalogue",
    "similar",
    "similarity",
]
