"""f. The README's two commands on a fresh machine (lab/fresh_machine.py): `make demo`, then `make test`, from
a `git clone` of this checkout in a bare Debian container without locale or extra capabilities; between them
`make recommend` for the user whose list the demo printed.

What the clone holds is what is committed: uncommitted changes of the checkout are not part of it.
"""

from __future__ import annotations

import re

import pytest

from lab.conftest import REPORT
from lab.fresh_machine import TIMEOUT, FreshMachine


@pytest.mark.timeout(TIMEOUT + 120)
def test_f_readme_commands_on_a_fresh_machine(fresh_machine: FreshMachine) -> None:
    code, text, took = fresh_machine.wait()
    timings = re.findall(r"^fresh-machine: make (\w+) passed in (\d+) s$", text, flags=re.M)
    REPORT.append(
        f"fresh machine: {', '.join(f'make {t} {s} s' for t, s in timings) or 'no command passed'}"
        f" (container {took:.0f} s, exit {code})"
    )
    assert code == 0, text[-8000:]
    assert [t for t, _ in timings] == ["demo", "recommend", "test"], text[-4000:]
    # make recommend printed the list of the user the demo showed, five movies
    user = re.search(r"^User (\d+), \(all genres\), list of 2019-01-08 .*top 5: ", text, flags=re.M)
    assert user, text[-4000:]
    assert text.count(f"User {user.group(1)}, (all genres), list of 2019-01-08") == 2, text[-4000:]
    # the demo printed its tables and charts; the suites ran tests
    assert "Chart: /root/movielens/include/data/rankings/04_sensor/" in text, text[-4000:]
    suites = re.findall(r"^=+ (\d+) passed", text, flags=re.M)
    assert len(suites) == 3, text[-4000:]  # the API, Airflow 2.10 and Airflow 3 suites
