"""``python -m kgbuild`` runs the CLI."""

from kgbuild.cli import main

main()
