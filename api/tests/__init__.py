"""Tests of the Movie Rating API (helpers: :mod:`movielens_api.testing`)."""
