"""Placeholder until the pipeline CLI lands."""


def add_pipeline_parser(sub) -> None:
    sub.add_parser("pipeline", help="run pipeline stages")
