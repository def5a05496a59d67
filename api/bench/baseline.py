"""The textbook design, for comparison: ratings.csv in a pandas DataFrame, boolean masks per request.

Run under gunicorn by the benchmark (``bench.baseline:create_app()``) with the same data and the same
auth and response format as the real API, so that only the data path differs. (The textbook app also
checks a werkzeug scrypt password hash on every request, ~160 ms here; that cost is left out.)
"""

from __future__ import annotations

import hmac
import os
import time

import pandas as pd
from flask import Flask, jsonify, request


def create_app() -> Flask:
    """Load the whole ratings.csv named by MOVIELENS_DATA (a folder) into a DataFrame."""
    app = Flask(__name__)
    t0 = time.perf_counter()
    ratings = pd.read_csv(os.path.join(os.environ["MOVIELENS_DATA"], "ratings.csv"))
    ratings = ratings.sort_values(["timestamp", "userId", "movieId"], ignore_index=True)
    app.logger.warning("baseline loaded %d ratings in %.1fs", len(ratings), time.perf_counter() - t0)

    @app.get("/health")
    def health():  # noqa: ANN202
        return jsonify(status="ok", rows=len(ratings))

    @app.get("/ratings")
    def get_ratings():  # noqa: ANN202
        auth = request.authorization
        if not (
            auth
            and hmac.compare_digest(auth.username or "", "airflow")
            and hmac.compare_digest(auth.password or "", "airflow")
        ):
            return jsonify(error="unauthorized"), 401
        df = ratings
        start, end = request.args.get("start_date"), request.args.get("end_date")
        if start:
            df = df[df["timestamp"] >= pd.Timestamp(start, tz="UTC").timestamp()]
        if end:
            df = df[df["timestamp"] < pd.Timestamp(end, tz="UTC").timestamp()]
        offset = int(request.args.get("offset", 0))
        limit = int(request.args.get("limit", 100))
        page = df.iloc[offset : offset + limit]
        return jsonify(result=page.to_dict(orient="records"), limit=limit, offset=offset, total=len(df))

    return app
