"""HTTP interfaces of the outbox app."""
