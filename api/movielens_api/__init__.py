"""Movie Rating API: MovieLens ratings served from memory-mapped columns (``create_app`` is the factory)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask

__all__ = ["create_app"]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: config from the environment (or test_config), error handlers, routes, dataset."""
    from movielens_api import cache, errors, views
    from movielens_api.store import DataStore

    app = Flask(__name__)
    app.config.from_mapping(
        MOVIELENS_DATA=os.environ.get("MOVIELENS_DATA") or None,
        MOVIELENS_CACHE_DIR=str(cache.default_cache_root()),
        API_USER=os.environ.get("API_USER", "airflow"),
        API_PASSWORD=os.environ.get("API_PASSWORD", "airflow"),
        API_MAX_LIMIT=_env_int("API_MAX_LIMIT", 10_000),
        # "background": build a missing cache in a separate process and answer 503 meanwhile;
        # "sync": build it inside create_app (tests, one-off scripts).
        DATA_LOAD=os.environ.get("API_DATA_LOAD", "background"),
        VERIFY_CACHE=True,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    if app.config["API_MAX_LIMIT"] < 1:
        raise ValueError("API_MAX_LIMIT must be >= 1")
    if not app.debug:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    errors.init_app(app)
    app.register_blueprint(views.bp)

    store = DataStore(
        app.config["MOVIELENS_DATA"], Path(app.config["MOVIELENS_CACHE_DIR"]), app.config["VERIFY_CACHE"]
    )
    app.extensions["movielens_store"] = store
    store.load(background=app.config["DATA_LOAD"] != "sync")
    return app
