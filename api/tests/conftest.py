"""Shared fixtures: small synthetic datasets, an app built on one, its test client and credentials."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from movielens_api import create_app
from movielens_api.dataset.synth import SynthSpec, synthesize

SMALL = SynthSpec(rows=6_000, users=300, movies=400, start=date(2019, 1, 1), end=date(2019, 1, 8), seed=3)


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP basic auth."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MovieLens-format folder (7 days of 2019)."""
    return synthesize(tmp_path_factory.mktemp("small") / "ml-small", SMALL)


def serving_app(data_dir: Path, cache_dir: Path) -> Flask:
    """A test app serving the MovieLens folder data_dir, its cache built synchronously into cache_dir."""
    return create_app(
        {
            "TESTING": True,
            "MOVIELENS_DATA": str(data_dir),
            "MOVIELENS_CACHE_DIR": str(cache_dir),
            "DATA_LOAD": "sync",
        }
    )


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
