from __future__ import annotations

import pytest

from kinematics import Chain

from .arms import ARMS


@pytest.fixture(params=sorted(ARMS))
def arm(request) -> Chain:
    return ARMS[request.param]()
