#!/bin/sh
# Start the Movie Rating API under gunicorn. The one entry point of both ways the API runs in a container:
#
# - the image built from api/Dockerfile (`docker build api/`, for deployments): the dependencies are already
#   installed, API_VENV_DIR is unset, and this only starts gunicorn;
# - the stock Python image with this folder bind-mounted read-only (docker-compose.override.yml: `astro dev
#   start` never builds the services an override adds): API_VENV_DIR is set, and the first start installs
#   requirements.lock into a venv under it, named after the lock's hash and the Python version. Later starts
#   reuse that venv; a changed lock gets a new one and the old ones are removed. A venv appears under its
#   final name only once complete (built under a temporary name, then renamed), so an interrupted install is
#   redone, never used half-way.
set -eu

cd "$(dirname "$0")"
python=python3

if [ -n "${API_VENV_DIR:-}" ]; then
    lock_hash=$(sha256sum requirements.lock | cut -c1-16)
    python_tag=$("$python" -c 'import sys; print("py%d%d" % sys.version_info[:2])')
    venv="$API_VENV_DIR/$python_tag-$lock_hash"
    if [ ! -x "$venv/bin/python" ]; then
        echo "serve.sh: installing requirements.lock into $venv (first start with this lock)" >&2
        mkdir -p "$API_VENV_DIR"
        partial="$API_VENV_DIR/.partial-$python_tag-$lock_hash"
        rm -rf "$partial" "$venv"
        "$python" -m venv "$partial"
        "$partial/bin/python" -m pip install --no-cache-dir --disable-pip-version-check --quiet \
            --requirement requirements.lock
        mv "$partial" "$venv"
    fi
    for other in "$API_VENV_DIR"/* "$API_VENV_DIR"/.partial-*; do
        if [ -e "$other" ] && [ "$other" != "$venv" ]; then
            echo "serve.sh: removing $other (another lock or an interrupted install)" >&2
            rm -rf "$other"
        fi
    done
    # `python -m` rather than the venv's scripts: their shebangs name the temporary path.
    python="$venv/bin/python"
fi

exec "$python" -m gunicorn --config gunicorn.conf.py "movielens_api:create_app()"
