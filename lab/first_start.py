"""A stack's first start on the defaults a user has, timed from the moment compose ``up`` returned: when the
Airflow webserver (api-server on Airflow 3) answered its health endpoint, when the Movie Rating API began
answering (503 while it prepares its data) and when it was ready (200), with what the API's container said
about its venv and dataset."""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field

import requests

from lab.stack import Stack

API = "http://127.0.0.1:5000"
#: Lines serve.sh, gunicorn and the dataset preparation log on a first start (docker-compose.override.yml,
#: api/): the API's own timeline, read from the container's log timestamps.
_API_LOG = {
    "venv install began": r"serve\.sh: installing requirements\.lock",
    "gunicorn listening": r"Listening at: http",
    "twin generation began": r"synthesizing the ml-25m twin",
    "twin written": r"movielens_api\.dataset\.synth: wrote ",
}
_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)Z? (.*)$")


@dataclass
class FirstStart:
    """Seconds after ``up`` returned at which each milestone was seen (absent: not seen); ``api`` is where
    the stack publishes the Movie Rating API."""

    api: str = API
    began: float = field(default_factory=time.monotonic)
    seen: dict[str, float] = field(default_factory=dict)
    api_log: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.seen.setdefault(name, time.monotonic() - self.began)

    def wait_webserver(
        self, port: int, within: float, path: str = "/health", name: str = "webserver"
    ) -> float:
        """Poll the health endpoint of the webserver (Airflow 2; the api-server's ``/api/v2/monitor/health``
        and ``name="api-server"`` on Airflow 3) as the Astro CLI does; fail when it does not answer 200
        within ``within`` seconds of ``up`` (the CLI's ``--wait``), as `astro dev start` would."""
        while True:
            try:
                if requests.get(f"http://localhost:{port}{path}", timeout=5).ok:
                    self.mark(f"{name} healthy")
                    return self.seen[f"{name} healthy"]
            except requests.RequestException:
                pass
            self._poll_api()
            elapsed = time.monotonic() - self.began
            assert elapsed < within, f"the {name} did not answer {path} within {within:.0f} s of `up`"
            time.sleep(1)

    def wait_api(self, stack: Stack, within: float) -> dict:
        """Wait for the API's /health 200 (its data ready); returns the health body."""
        while True:
            health = self._poll_api()
            if health is not None:
                self._read_api_log(stack)
                return health
            elapsed = time.monotonic() - self.began
            assert elapsed < within, (
                f"the API was not ready within {within:.0f} s of `up`\n{stack.logs('movielens-api', 40)}"
            )
            time.sleep(2)

    def _poll_api(self) -> dict | None:
        try:
            resp = requests.get(f"{self.api}/health", timeout=5)
        except requests.RequestException:
            return None
        self.mark("API answering")
        if resp.status_code != 200:
            return None
        self.mark("API ready")
        return resp.json()

    def _read_api_log(self, stack: Stack) -> None:
        """The API's milestones from its container log, as seconds after the log's first line."""
        log = stack.compose("logs", "--no-color", "--timestamps", "movielens-api", check=False).stdout
        stamps = []
        for line in log.splitlines():
            match = _STAMP.search(line)
            if match:
                stamps.append((dt.datetime.fromisoformat(match.group(1)[:26]), match.group(2)))
        if not stamps:
            return
        first = stamps[0][0]
        for name, pattern in _API_LOG.items():
            at = next((t for t, text in stamps if re.search(pattern, text)), None)
            if at is not None:
                self.api_log[name] = (at - first).total_seconds()

    def summary(self) -> str:
        def timeline(marks: dict[str, float]) -> str:
            return ", ".join(f"{name} {at:.0f} s" for name, at in sorted(marks.items(), key=lambda i: i[1]))

        return (
            f"after `up` returned: {timeline(self.seen)}; "
            f"the API container's log: {timeline(self.api_log) or 'no milestones'}"
        )
