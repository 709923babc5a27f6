"""Load and latency benchmarks for hotseat (not timed tests); ``python -m bench.run``."""
