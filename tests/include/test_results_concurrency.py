"""Concurrent first writes to the results tables on PostgreSQL (several workers publishing at once)."""

from __future__ import annotations

from tests.support.threads import run_at_once


def test_concurrent_first_prepares_create_the_tables_once(postgres_server, monkeypatch) -> None:
    """Without a lock, concurrent ``CREATE TABLE`` of the same table fails with a duplicate key in
    PostgreSQL's type catalogue (seen with two Celery workers publishing their first rankings)."""
    from include.movielens import results
    from include.movielens.database import ResultsDb
    from tests.results_db import forget_connection_types

    with postgres_server.database() as name:
        monkeypatch.setenv("AIRFLOW_CONN_MOVIELENS_RESULTS", postgres_server.connection_json(name))
        forget_connection_types()

        def prepare() -> None:
            tables = ResultsDb.connect("movielens_results")
            with tables.engine.begin() as conn:
                results.prepare(conn, tables)

        errors = run_at_once([prepare] * 4)
        forget_connection_types()
        assert errors == []
        listed = postgres_server.query(
            name, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        )
        assert listed["table_name"].tolist() == ["genre_rankings", "movie_rankings", "ranking_windows"]
