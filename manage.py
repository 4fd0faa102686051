#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    """Run the management command named on the command line."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from tenancy.tracing import setup_tracing

    setup_tracing()  # a no-op unless an OTLP endpoint is configured
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
