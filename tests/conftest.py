"""Fixtures: every store-backed test runs once per store in `tests.backends.BACKENDS`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor import Conveyor
from tests.backends import BACKENDS, Backend, backend_params, empty_store


@pytest.fixture(params=backend_params(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def store_url(backend: Backend, tmp_path: Path) -> str:
    url = backend.url(tmp_path)
    if backend.server:
        setup = Conveyor(url)
        try:
            empty_store(setup.store)
        finally:
            setup.close()
    return url


@pytest.fixture
def make_app(store_url: str) -> Iterator[Callable[..., Conveyor]]:
    """``make_app(lease=0.5)``: an app on this test's store, closed afterwards."""
    apps: list[Conveyor] = []

    def make(**settings: float) -> Conveyor:
        app = Conveyor(store_url, **settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


@pytest.fixture
def app(make_app: Callable[..., Conveyor]) -> Conveyor:
    return make_app()
