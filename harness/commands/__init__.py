"""Subcommands of the ``harness`` command: each module has ``main(argv) -> int``."""
