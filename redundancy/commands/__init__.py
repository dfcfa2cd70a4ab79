"""The command groups of the command line (:mod:`redundancy.cli` puts them on one Typer app)."""
