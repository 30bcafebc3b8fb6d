"""Support for the tests and the benchmarks: a synthetic lakehouse and a headless dashboard in Chromium."""
