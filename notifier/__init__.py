"""The notifier: domain events become deliveries to citizens and staff (see notifier.service).

Public entry points: `run_notifier` (the long-running worker), `notifier.answers.PromptBook`
(the core's `PromptAnswers`: rating replies in the pipeline, rating buttons in a channel),
`record_answer`, and `notifier.routes.router` (the one-click rating link). The composition root
(`service/`) plugs them in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from notifier.answers import AnswerOutcome, record_answer
    from notifier.service import Notifier, run_notifier

__all__ = ["AnswerOutcome", "Notifier", "record_answer", "run_notifier"]


def __getattr__(name: str) -> Any:
    """Lazy exports: importing `notifier.models` (for migrations) pulls in nothing else."""
    if name in ("AnswerOutcome", "record_answer"):
        from notifier import answers

        return getattr(answers, name)
    if name in ("Notifier", "run_notifier"):
        from notifier import service

        return getattr(service, name)
    raise AttributeError(name)
