"""What a failed task of the six DAGs reports: one JSON log line, and a notifier when one is configured.

:func:`failure_callbacks` is every DAG's ``on_failure_callback`` (:mod:`include.movielens.dag_factory`);
Airflow calls it once a task has failed for good (a try that will be retried is not a failure yet):

* :func:`log_failure` always writes ``task failed {"dag_id", "task_id", "run_id", "try_number",
  "exception"}`` to the task's log at ERROR, for whatever collects the logs to match;
* :class:`FailureWebhookNotifier`, only when ``MOVIELENS_ALERT_CONN_ID`` names an HTTP connection, POSTs the
  same record as JSON to it through the HTTP provider's ``HttpHook``. Off by default.
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


def failure_record(context: Mapping[str, Any]) -> dict:
    """The failed task's record: the one source of the log line and the POST, so they never disagree."""
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
    """Write the failure as one structured log line."""
    log.error("task failed %s", json.dumps(failure_record(context), default=str, sort_keys=True))


class FailureWebhookNotifier(BaseNotifier):
    """POST the failed task's record (:func:`failure_record`) as JSON to an HTTP connection.

    :param http_conn_id: an ``http`` connection: its URL receives the POST; its extras are sent as headers.
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
