"""What a failed task of the six DAGs reports: one JSON log line, and a notifier when one is configured.

The DAG factory (:mod:`include.movielens.dag_factory`) puts :func:`failure_callbacks` into every DAG's
``default_args`` as ``on_failure_callback``; Airflow calls them once a task has failed for good (its last
try; a try that will be retried is not a failure yet):

* :func:`log_failure` always writes one line ``task failed {"dag_id": ..., "task_id": ..., "run_id": ...,
  "try_number": ..., "exception": ...}`` to the task's log, at ERROR, whatever collects the logs can match;
* :class:`FailureWebhookNotifier`, only when ``MOVIELENS_ALERT_CONN_ID`` names an HTTP connection, POSTs the
  same record as JSON to it (the connection's URL; its extras' headers, e.g. a token, go along), through the
  HTTP provider's ``HttpHook``. Off by default.

The record is built in one place (:func:`failure_record`), so the log line and the POST never disagree.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from include.movielens import settings
from include.movielens.compat import BaseNotifier

log = logging.getLogger(__name__)

#: How long the notifier waits for the alert endpoint (connect and read), in seconds.
ALERT_TIMEOUT = 10
RECORD_KEYS = ("dag_id", "task_id", "run_id", "try_number", "exception")


def failure_record(context: Mapping[str, Any]) -> dict:
    """``{"dag_id", "task_id", "run_id", "try_number", "exception"}`` of the failed task in ``context``."""
    ti = context["ti"]
    error = context.get("exception")
    return {
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "try_number": ti.try_number,
        "exception": f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error,
    }


def log_failure(context: Mapping[str, Any]) -> None:
    """Write the failure as one structured log line (see the module doc)."""
    log.error("task failed %s", json.dumps(failure_record(context), default=str, sort_keys=True))


class FailureWebhookNotifier(BaseNotifier):
    """POST the failed task's record (:func:`failure_record`) as JSON to an HTTP connection.

    :param http_conn_id: an ``http`` connection: its URL (host with scheme and path, or host, port and
        schema as the scheme) receives the POST; its extras are sent as headers.
    :param endpoint: a path appended to the connection's URL (templated).
    """

    template_fields: Sequence[str] = ("http_conn_id", "endpoint")

    def __init__(self, *, http_conn_id: str, endpoint: str = "") -> None:
        super().__init__()
        self.http_conn_id = http_conn_id
        self.endpoint = endpoint

    def notify(self, context: Any) -> None:
        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="POST", http_conn_id=self.http_conn_id)
        record = json.loads(json.dumps(failure_record(context), default=str))
        hook.run(self.endpoint, json=record, extra_options={"timeout": ALERT_TIMEOUT})
        log.info("Failure of %s.%s reported to %s", record["dag_id"], record["task_id"], self.http_conn_id)


def failure_callbacks() -> list[Callable[[Any], None]]:
    """``on_failure_callback`` of every task: the log line, then the notifier if one is configured."""
    conn_id = settings.alert_conn_id()
    return [log_failure] + ([FailureWebhookNotifier(http_conn_id=conn_id)] if conn_id else [])
