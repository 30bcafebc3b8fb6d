"""Placeholder until the simulator lands: registers the `simulator` subcommand group."""


def add_simulator_parser(sub) -> None:
    sub.add_parser("simulator", help="the event simulator")
