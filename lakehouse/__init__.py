"""The top floor: one console entry (`lakehouse`, a group per package) and the local stack (up, down, status)."""
