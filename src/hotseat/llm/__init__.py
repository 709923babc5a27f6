"""Model backends: one small interface, several implementations."""
