"""Relational run ledger (SQLAlchemy 2.0): runs, documents, stage events, results."""
