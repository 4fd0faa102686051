"""Clients of the services this one calls (their contracts: tests/contract/pacts/)."""
