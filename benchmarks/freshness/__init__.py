"""The parts of `python -m benchmarks stream_freshness`: the load it produces, the probe that watches gold and the
lag, and the report."""
