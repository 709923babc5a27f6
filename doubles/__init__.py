"""Test doubles for the tests and the benchmarks: stand-ins for a model server and for the network.

Not part of the shipped package (no user command needs them); pytest and ``python -m bench.…`` import
them from the repository root. They depend on the standard library only.
"""
