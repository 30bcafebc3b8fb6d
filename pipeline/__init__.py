"""Medallion jobs on Spark + Delta: bronze (raw), silver (clean, current), gold (what the dashboard reads)."""
