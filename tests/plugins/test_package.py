"""The package as Airflow sees it: provider info, connection form, plugins folder, and the built wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import zipfile
from pathlib import Path

import jsonschema
import pytest

import airflow_movielens
from airflow_movielens import get_provider_info
from airflow_movielens.connection import EXTRA_FIELDS
from airflow_movielens.hooks import MovielensHook
from tests.environment import require
from tests.support.compat import AIRFLOW_3

REPO_ROOT = Path(__file__).resolve().parents[2]


def _airflow_schema(name: str) -> dict:
    import airflow

    return json.loads((Path(airflow.__file__).parent / name).read_text())


def test_provider_info_follows_airflow_schema():
    info = get_provider_info()
    jsonschema.validate(info, _airflow_schema("provider_info.schema.json"))
    assert info["package-name"] == "airflow-movielens"
    assert info["versions"] == [airflow_movielens.__version__]
    [conn_type] = info["connection-types"]
    assert conn_type["connection-type"] == MovielensHook.conn_type
    assert conn_type["hook-class-name"] == "airflow_movielens.hooks.MovielensHook"
    assert conn_type["hook-name"] == MovielensHook.hook_name
    # the declarative form (Airflow 3) says what the wtforms form (Airflow 2) says
    assert set(conn_type["conn-fields"]) == set(MovielensHook.get_ui_field_behaviour()["placeholders"]) - {
        "host", "port", "schema", "login", "password", "extra"
    }  # fmt: skip
    assert conn_type["conn-fields"]["batch_size"] == {
        "label": "Page size (ratings per request)",
        "schema": {"type": ["integer", "null"], "minimum": 1, "default": MovielensHook.default_batch_size},
    }
    assert (
        conn_type["ui-field-behaviour"]["placeholders"]
        == MovielensHook.get_ui_field_behaviour()["placeholders"]
    )
    assert info["triggers"] == [
        {"integration-name": "MovieLens", "python-modules": ["airflow_movielens.triggers"]}
    ]


def test_pyproject_registers_the_entry_point_and_single_version_source():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == "airflow-movielens"
    entry_points = project["project"]["entry-points"]["apache_airflow_provider"]
    assert list(entry_points.values()) == ["airflow_movielens:get_provider_info"]
    assert project["tool"]["hatch"]["version"]["path"] == "plugins/airflow_movielens/__init__.py"


@pytest.mark.skipif(
    AIRFLOW_3, reason="Airflow 3's UI reads the declarative conn-fields (see the provider info test)"
)
def test_connection_form_widgets_smoke():
    from flask import Flask
    from flask_babel import Babel
    from werkzeug.datastructures import MultiDict
    from wtforms import Form

    widgets = MovielensHook.get_connection_form_widgets()
    assert set(widgets) == {"timeout", "batch_size", "max_retries"}
    form_class = type("MovielensConnectionForm", (Form,), dict(widgets))
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        form = form_class(MultiDict({"timeout": "30", "batch_size": "5000", "max_retries": "3"}))
        assert form.validate(), form.errors
        assert form.data == {"timeout": 30, "batch_size": 5000, "max_retries": 3}
        assert 'name="batch_size"' in str(form.batch_size)
        assert str(form.batch_size.label.text) == "Page size (ratings per request)"

        assert form_class(MultiDict({})).validate(), "every extra is optional"
        bad = form_class(MultiDict({"timeout": "0", "batch_size": "lots", "max_retries": "-1"}))
        assert not bad.validate()
        assert set(bad.errors) == {"timeout", "batch_size", "max_retries"}


def test_ui_field_behaviour_follows_airflow_schema():
    behaviour = MovielensHook.get_ui_field_behaviour()
    jsonschema.validate(behaviour, _airflow_schema("customized_form_field_behaviours.schema.json"))
    standard = {"host", "port", "schema", "login", "password", "extra", "description"}
    assert set(behaviour["placeholders"]) <= standard | set(EXTRA_FIELDS)
    assert behaviour["placeholders"]["port"] == "5000"
    assert behaviour["placeholders"]["schema"] == "http"


def test_this_environment_has_the_provider_installed():
    """`make setup` installs the distribution editable from plugins/ (the Astro image: from the project):
    every entry point imports the same files; Airflow's UI offers the MovieLens connection type and form."""
    from airflow.providers_manager import ProvidersManager

    assert Path(airflow_movielens.__file__).resolve().parent == REPO_ROOT / "plugins" / "airflow_movielens"
    pm = ProvidersManager()
    assert pm.providers["airflow-movielens"].version == airflow_movielens.__version__
    assert pm.hooks["movielens"].hook_class_name == "airflow_movielens.hooks.MovielensHook"
    assert "movielens" in pm.field_behaviours


@pytest.mark.slow
def test_each_public_module_imports_first_in_a_fresh_interpreter():
    """A script's first import may be any module users import: importing it imports Airflow, which reads the
    provider info from this package while that module is still half-imported (on Airflow 3 that once failed
    with a circular import). Slow: a fresh interpreter imports Airflow for each module (side by side)."""
    public = ["exceptions", "hooks", "operators", "transfers", "sensors", "triggers"]
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import airflow_movielens.{name}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in public
    }
    failed = {name: run.communicate(timeout=900)[0][-1500:] for name, run in runs.items()}
    assert {name: out for name, out in failed.items() if runs[name].returncode} == {}


@pytest.mark.skipif(
    AIRFLOW_3, reason="plugins/ is how the Astro project (Airflow 2.10) loads it; see the wheel test"
)
def test_plugins_folder_loads_without_import_errors(monkeypatch):
    """Astro's plugin loader imports every .py under plugins/ as a top-level module; the package is
    excluded by plugins/.airflowignore (it is imported as ``airflow_movielens`` instead)."""
    from airflow import plugins_manager, settings

    monkeypatch.setattr(settings, "PLUGINS_FOLDER", str(REPO_ROOT / "plugins"))
    monkeypatch.setattr(plugins_manager, "plugins", [])
    monkeypatch.setattr(plugins_manager, "import_errors", {})
    plugins_manager.load_plugins_from_plugin_directory()
    assert plugins_manager.import_errors == {}
    modules = {path.stem for path in (REPO_ROOT / "plugins" / "airflow_movielens").glob("*.py")}
    assert {"hooks", "transport", "triggers"} <= modules
    assert not modules & set(sys.modules)


@pytest.mark.slow
def test_wheel_installs_and_registers_the_provider(tmp_path):
    """Build the wheel, install it alone into a throwaway venv that borrows .venv's Airflow (but not the
    repo), and let ProvidersManager discover the provider there."""
    # make exports UV (its own bootstrap copy where none is on PATH); pytest run by hand finds that copy too.
    bootstrap = REPO_ROOT / ".local" / "uv" / "bin" / "uv"
    uv = os.environ.get("UV") or shutil.which("uv") or (str(bootstrap) if bootstrap.exists() else None)
    require(uv is not None, "uv is needed to build the wheel and the throwaway venv")
    dist = tmp_path / "dist"
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(dist), str(REPO_ROOT)], check=True, timeout=300,
                   capture_output=True)  # fmt: skip
    [wheel] = dist.glob("airflow_movielens-*.whl")
    assert wheel.name.startswith(f"airflow_movielens-{airflow_movielens.__version__}-")
    with zipfile.ZipFile(wheel) as zf:  # its description is the provider's README, not the project's
        [metadata] = [name for name in zf.namelist() if name.endswith(".dist-info/METADATA")]
        description = zf.read(metadata).decode()
    assert "# airflow-movielens: an Apache Airflow provider for the Movie Rating API" in description
    assert "Most popular movies" not in description

    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--no-deps", "--python", str(python), str(wheel)],
        check=True,
        timeout=120,
    )
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.check_output([python, "-c", purelib], text=True).strip())
    # Airflow and friends from .venv, appended after the venv's own site-packages.
    (site / "_borrow_dot_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    probe = textwrap.dedent(
        f"""
        import json, sys
        import airflow_movielens
        from airflow_movielens.hooks import MovielensHook
        from airflow_movielens.operators import MovielensFetchRatingsOperator
        from airflow_movielens.sensors import MovielensRatingsSensor
        from airflow.providers_manager import ProvidersManager

        assert airflow_movielens.__file__.startswith({str(venv)!r}), airflow_movielens.__file__
        assert not any(p.startswith({str(REPO_ROOT)!r}) and "venv" not in p for p in sys.path), sys.path
        pm = ProvidersManager()
        info = pm.providers["airflow-movielens"]
        hook = pm.hooks["movielens"]
        print(json.dumps({{
            "version": info.version,
            "hook": hook.hook_class_name,
            "conn_id_attr": hook.connection_id_attribute_name,
            "widgets": sorted(k for k in pm.connection_form_widgets if "movielens" in k),
            "behaviour": "movielens" in pm.field_behaviours,
        }}))
        """
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp_path / "no-plugins"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "no-dags"),
    }
    done = subprocess.run(
        [python, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {
        "version": airflow_movielens.__version__,
        "hook": "airflow_movielens.hooks.MovielensHook",
        "conn_id_attr": "movielens_conn_id",
        "widgets": [
            "extra__movielens__batch_size",
            "extra__movielens__max_retries",
            "extra__movielens__timeout",
        ],
        "behaviour": True,
    }
