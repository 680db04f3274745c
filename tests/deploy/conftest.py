"""Fixtures for the deployment checks."""

import pytest

from deploy_helpers import OVERLAYS, load_generator, render


@pytest.fixture(scope="session")
def generator():
    return load_generator()


@pytest.fixture(scope="session", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)
