from __future__ import annotations

import pytest

from intake.triage import Triage


@pytest.fixture(scope="session")
def triage() -> Triage:
    return Triage.load()
