"""Guided requests: the bot asks for what a handler needs before a chat request is filed.

One engine for every chat channel: the catalogue of what a request needs and what the bot says
(`catalogue.py`, `intake/data/guided.yaml`), the draft and the message it is filed as
(`draft.py`), its state in Redis (`store.py`), the steps, filing and timeouts (`engine.py`,
with a form's answers in `form.py`). The channels keep only the rendering: WeChat answers with
a passive reply, Telegram with messages and keyboards.
"""

from intake.guided.catalogue import GuidedCatalogue, Wording
from intake.guided.draft import Draft, Step
from intake.guided.engine import FORM, GuidedRequests
from intake.guided.screen import Screen, passes_through
from intake.guided.store import DraftStore

__all__ = [
    "FORM",
    "Draft",
    "DraftStore",
    "GuidedCatalogue",
    "GuidedRequests",
    "Screen",
    "Step",
    "Wording",
    "passes_through",
]
