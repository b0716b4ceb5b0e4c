"""Training and evaluation commands and metrics."""
