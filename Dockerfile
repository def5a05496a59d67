# Astro Runtime 12.8.0 = Apache Airflow 2.10.5 on Python 3.12 (Runtime 12's default Python). Its standard
# image bundles astro-sdk-python 1.8.1 and the postgres 5.14.0 / sqlite 3.9.1 / common-sql 1.25.0 / http 4.13.3
# providers (Astronomer docs: "Astro Runtime provider package reference", section Astro Runtime 12.8.0, and the
# Runtime release notes). The local lock (requirements/airflow.lock) pins the same versions; tests/test_versions.py
# fails if the two drift apart. This image is the Astro SDK path: astro-sdk-python does not import on Airflow 3,
# which runs the same DAGs without the SDK from Dockerfile.airflow3 (Runtime 3.x); Airflow 2.11.1+ is ruled out
# here: its flask-session>=0.8 conflicts with astro-sdk-python's <0.6 pin.
# Runtime 12.9.0 .. 12.12.0 (also Airflow 2.10.5) exist, but their provider lists could not be checked against
# the lock from a published source here, so the project stays on 12.8.0 until a row for the newer tag is added
# to tests/test_versions.py.
FROM quay.io/astronomer/astro-runtime:12.8.0

# A scheduler that died (killed, or crashed when its database restarted) leaves its running tasks orphaned: the
# next scheduler hands them back to the executor once the old one is 30 s without heartbeat, but looks only every
# orphaned_tasks_check_interval (Airflow's default 300 s). Every minute instead: a restart costs about a minute,
# not five. The check is one indexed query.
ENV AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL=60
# A task whose process died with its worker, or lost the metadata database while PostgreSQL restarted, stops
# heartbeating (every 5 s); the scheduler fails it and hands it to its retries once it is this long without a
# heartbeat (Airflow's default 300 s). Two minutes: 24 missed heartbeats, so no live task is cut off, and a
# recovery costs two minutes, not five.
ENV AIRFLOW__SCHEDULER__SCHEDULER_ZOMBIE_TASK_THRESHOLD=120
# Six DAG files need one parsing process, not Airflow's default two: each parse imports pandas and the Astro SDK,
# and on a small machine (`astro dev start` gives the webserver one minute, on 2 cores) a second parser competes
# with Airflow's own start.
ENV AIRFLOW__SCHEDULER__PARSING_PROCESSES=1
# Each parse of a DAG file runs in a fresh process that imports the Astro SDK and pandas again: about 3 s of CPU
# per file. Re-parsed every 30 s (Airflow's default), six files keep 0.6 of a core busy for as long as the
# scheduler runs; every 2 minutes, 0.15. A deploy restarts the scheduler, which parses at once; a DAG edited
# under `astro dev start` shows its change within 2 minutes (new files: dag_dir_list_interval, 5 minutes).
ENV AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL=120
# Astro SDK tasks exchange Table/Dataset objects through XCom without pickling.
ENV AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES="airflow.* astro.*"
# The pipeline's local files (its end-of-run CSV export; tasks hand data to each other through the results
# database) live inside the container: include/ is bind-mounted from the host by `astro dev start`, where the
# container user may not write, and is not shared between the workers of a Deployment anyway.
ENV MOVIELENS_DATA_DIR=/tmp/movielens-data

# What a build needs from the network: `astro dev start` and `astro deploy` build with `--pull`, so every build
# asks quay.io for this tag; the ONBUILD step that installs requirements.txt needs a package index (PyPI or a
# mirror pip is configured for). Nothing else does.
#
# The build's ONBUILD steps have copied the project to /usr/local/airflow and installed requirements.txt by now,
# including the build backend of pyproject.toml (hatchling, pinned there). plugins/ is already on sys.path;
# installing the same package as the `airflow-movielens` distribution registers its provider entry point, so
# the Airflow UI offers the "MovieLens Rating API" connection type. No build isolation and no index.
RUN pip install --no-cache-dir --no-build-isolation --no-index --no-deps /usr/local/airflow
