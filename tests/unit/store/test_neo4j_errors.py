from kgbuild.store.neo4j.errors import Neo4jUnavailableError


def test_a_server_down_during_a_read_says_nothing_of_writes() -> None:
    """`kgbuild ask --neo4j` told the user that "writes are idempotent"."""
    read = str(Neo4jUnavailableError("bolt://h:7687", "neo4j", reading=True))
    assert "Neo4j at bolt://h:7687 (database 'neo4j') is unavailable" in read
    assert "write" not in read and "ask again" in read
    written = str(Neo4jUnavailableError("bolt://h:7687", "neo4j"))
    assert "stopped during the write" in written and "re-run completes" in written
