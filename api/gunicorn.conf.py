"""gunicorn settings: ``gunicorn --config gunicorn.conf.py "movielens_api:create_app()"``."""

import os

bind = f"{os.environ.get('API_HOST', '127.0.0.1')}:{os.environ.get('API_PORT', '5000')}"
workers = int(os.environ.get("API_WORKERS", "2"))
worker_class = "sync"
# Load the app (and open the memory-mapped dataset) once in the master; forked workers share the mapping.
preload_app = True
timeout = int(os.environ.get("API_TIMEOUT", "60"))
graceful_timeout = 10
# Long comma-separated movieId lists fit in the URL.
limit_request_line = 8190
accesslog = os.environ.get("API_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("API_LOG_LEVEL", "info")
proc_name = "movielens-api"
# Several instances (tests, benchmark) may run side by side: no shared ~/.gunicorn control socket.
control_socket_disable = True
