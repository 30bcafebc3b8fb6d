"""Shared plumbing of the wearable-analytics lakehouse: settings, Spark session, local Kafka broker, CLI."""
