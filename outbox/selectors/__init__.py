"""Selectors: every read of this app."""
