"""Where graphs and runs are stored: the SQL ledger and Neo4j."""
