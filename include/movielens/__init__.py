"""MovieLens popular-movies pipeline: settings, ranking, requests client and the Astro SDK tasks."""
