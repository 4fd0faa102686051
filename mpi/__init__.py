"""Master Patient Index: matching, review, merge."""
