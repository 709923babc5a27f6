"""Test and benchmark helpers: a scriptable mock of an OpenAI-compatible upstream."""
