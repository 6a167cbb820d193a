"""A category (and request type) classifier learned from the hotline's own labelled tickets.

The keyword rules still run first (guards, knowledge base) and stay the fallback; a model
decides the category when it is confident. Models are stored as plain arrays and JSON in the
data folder, versioned, with an active pointer that running workers follow (`ModelSource`);
a default model trained on the project's corpus ships in `intake/triage/data/model/`.
Training needs scikit-learn (`training`, `evaluation`); using a model needs numpy only.
"""

from intake.triage.learned.model import LearnedModel, ModelInfo, Prediction
from intake.triage.learned.source import SHIPPED, ModelSource
from intake.triage.learned.store import DEFAULT, ModelStore, models_folder

__all__ = [
    "DEFAULT",
    "SHIPPED",
    "LearnedModel",
    "ModelInfo",
    "ModelSource",
    "ModelStore",
    "Prediction",
    "models_folder",
]
