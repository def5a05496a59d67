# Astro Runtime 12.8.0 = Apache Airflow 2.10.5 on Python 3.12 (Runtime 12's default Python). Its standard
# image bundles astro-sdk-python 1.8.1 and the postgres 5.14.0 / sqlite 3.9.1 / common-sql 1.25.0 / http 4.13.3
# providers (Astronomer docs: "Astro Runtime provider package reference", section Astro Runtime 12.8.0, and the
# Runtime release notes). The local lock (requirements/airflow.lock) pins the same versions; tests/test_versions.py
# fails if the two drift apart. Airflow 3 (Runtime 3.x) is ruled out: astro-sdk-python does not import on it;
# Airflow 2.11.1+ is ruled out: its flask-session>=0.8 conflicts with astro-sdk-python's <0.6 pin.
FROM quay.io/astronomer/astro-runtime:12.8.0

# Astro SDK tasks exchange Table/Dataset objects through XCom without pickling.
ENV AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES="airflow.* astro.*"

# The build's ONBUILD steps have copied the project to /usr/local/airflow by now. plugins/ is already on
# sys.path; installing the same package as the `airflow-movielens` distribution registers its provider entry
# point, so the Airflow UI offers the "MovieLens Rating API" connection type.
RUN pip install --no-cache-dir --no-deps /usr/local/airflow
