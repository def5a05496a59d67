"""Tests of the Movie Rating API."""

#: The small dataset of the Airflow-side suites (tests/support/live_api.py): ``synth`` args after ``--out``.
SMALL_SYNTH_OPTIONS = [
    "--rows",
    "60000",
    "--users",
    "2000",
    "--movies",
    "1500",
    "--start-date",
    "2019-01-01",
    "--end-date",
    "2019-01-15",
    "--seed",
    "7",
]
