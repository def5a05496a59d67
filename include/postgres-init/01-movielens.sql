-- Runs once, on an empty PostgreSQL data volume (Astro's postgres service and docker-compose.yml's alike):
-- the results database that the movielens_results connection points at.
CREATE DATABASE movielens;
