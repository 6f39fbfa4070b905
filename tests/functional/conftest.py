"""The functional suite runs on one configuration more than the rest: PostgreSQL with an S3
blob store (moto's server), since the two together are how dataloft scales out."""

from __future__ import annotations

import pytest

from tests.support import test_configurations


@pytest.fixture(scope="session", params=test_configurations(functional=True))
def configuration(request: pytest.FixtureRequest) -> str:
    return str(request.param)
