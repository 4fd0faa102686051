"""Browser-test wiring: pytest-django's live server on committed data, and Debian's Chromium.

`live_server` pulls in `transactional_db`, whose teardown flushes every table with TRUNCATE,
which the app role may not do; here it means `committed_db` instead (really committed rows the
server thread can see, truncated afterwards through the owner role).
"""

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def transactional_db(committed_db: None) -> None:
    """What live_server asks for: committed data, emptied by the owner role afterwards."""


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:
    """Test users need no slow password hash (the login itself is still real)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
