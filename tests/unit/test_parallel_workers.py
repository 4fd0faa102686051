"""Each pytest-xdist worker gets its own Redis database (tests/conftest.py), counting down
from the one the suite was given; a worker number past database 0 is refused, not wrapped."""

import pytest

from tests.conftest import worker_redis_url


def test_outside_xdist_the_given_database_is_used() -> None:
    assert worker_redis_url("redis://127.0.0.1:6379/15", "") == "redis://127.0.0.1:6379/15"


def test_workers_count_down_from_the_given_database() -> None:
    url = "redis://127.0.0.1:6379/15"
    assert worker_redis_url(url, "gw0") == "redis://127.0.0.1:6379/15"
    assert worker_redis_url(url, "gw1") == "redis://127.0.0.1:6379/14"
    assert worker_redis_url(url, "gw3") == "redis://127.0.0.1:6379/12"


def test_a_worker_past_database_zero_is_refused() -> None:
    with pytest.raises(pytest.UsageError, match="too many xdist workers"):
        worker_redis_url("redis://127.0.0.1:6379/1", "gw2")
