"""Training and evaluation: recipes and metrics (the commands are in :mod:`kgbuild.cli.train`)."""
