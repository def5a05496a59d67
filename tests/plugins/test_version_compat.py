"""airflow_movielens.version_compat resolves each Airflow name where the running Airflow keeps it."""

from __future__ import annotations

import importlib

import pytest

from airflow_movielens import version_compat as compat
from tests.support.compat import AIRFLOW_3


@pytest.mark.parametrize("name", sorted(compat.LOCATIONS))
def test_each_name_comes_from_the_running_airflows_module(name: str) -> None:
    sdk, legacy = compat.LOCATIONS[name]
    expected = getattr(importlib.import_module(sdk if AIRFLOW_3 else legacy), name)
    assert getattr(compat, name) is expected


def test_the_provider_classes_derive_from_the_resolved_bases() -> None:
    from airflow_movielens.hooks import MovielensHook
    from airflow_movielens.operators import MovielensFetchRatingsOperator
    from airflow_movielens.sensors import MovielensRatingsSensor
    from airflow_movielens.transfers import MovielensRatingsToSqlOperator

    assert issubclass(MovielensHook, compat.BaseHook)
    assert issubclass(MovielensFetchRatingsOperator, compat.BaseOperator)
    assert issubclass(MovielensRatingsToSqlOperator, compat.BaseOperator)
    assert issubclass(MovielensRatingsSensor, compat.BaseSensorOperator)


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="'NoSuchBase'"):
        compat.NoSuchBase  # noqa: B018
