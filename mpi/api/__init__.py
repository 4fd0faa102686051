"""REST interface of the Master Patient Index."""
