"""Project code shared by the DAGs (Astro puts the project root on ``sys.path``)."""
