"""Transactional outbox, relay to Redis Streams, idempotent inbox."""
