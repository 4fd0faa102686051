"""Services: every write of this app."""
