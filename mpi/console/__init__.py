"""Console pages of the steward review queue and the merge ledger."""
