"""Shared fixtures: small synthetic datasets, an app built on one, its test client and credentials."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from movielens_api.dataset.synth import SynthSpec, synthesize
from movielens_api.testing import basic, serving_app

SMALL = SynthSpec(rows=6_000, users=300, movies=400, start=date(2019, 1, 1), end=date(2019, 1, 8), seed=3)


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MovieLens-format folder (7 days of 2019)."""
    return synthesize(tmp_path_factory.mktemp("small") / "ml-small", SMALL)


@pytest.fixture(scope="session")
def app(small_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The app serving small_dir, with its cache built synchronously."""
    return serving_app(small_dir, tmp_path_factory.mktemp("cache"))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth() -> dict[str, str]:
    return basic("airflow", "airflow")
