"""Benchmarks: `python -m benchmarks NAME [options]` runs one and prints a report with its baseline beside it."""
