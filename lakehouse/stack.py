"""Placeholder: `up`, `down`, `status` of the whole local stack."""


def add_stack_parsers(sub) -> None:
    pass
