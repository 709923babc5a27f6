"""Test and benchmark helpers: in-process server threads and a scriptable OpenAI-compatible upstream."""
