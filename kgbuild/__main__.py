"""``python -m kgbuild`` runs the CLI."""

from kgbuild.cli import app

app()
