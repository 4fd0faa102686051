"""Selectors: every read of the kernel."""
