"""Turns, their numbered event logs, and the runner that fills them."""
