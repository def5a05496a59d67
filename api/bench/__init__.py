"""Benchmark of the Movie Rating API against the textbook design (``python -m bench``)."""
