"""How the app's database sessions are set up (config/settings.py)."""

import pytest
from django.db import connections


@pytest.mark.django_db
def test_the_app_session_runs_without_jit_compilation():
    """At a million patients JIT compilation was 86% of a batch chunk's blocking statement."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
        cursor.execute("SELECT current_user")
        # the app role's own session, not the owner's (migrations) or the relay's
        assert cursor.fetchone()[0] == connections["default"].settings_dict["USER"]
