"""The Neo4j store's errors: server unreachable, credentials refused, rows that point nowhere."""

from __future__ import annotations

from kgbuild.errors import ConfigError, InputError, KGBuildError

__all__ = [
    "DATABASE_NOT_FOUND",
    "MissingNodeError",
    "Neo4jAuthError",
    "Neo4jDatabaseNotFoundError",
    "Neo4jUnavailableError",
]

#: The server's code for a session on a database it does not have.
DATABASE_NOT_FOUND = "Neo.ClientError.Database.DatabaseNotFound"


class Neo4jUnavailableError(KGBuildError, ConnectionError):
    """The Neo4j server cannot be reached (or went away during a write or a read).

    Args:
        uri: Where the driver connects.
        database: The target database.
        reading: Whether the server was being read (``ask``, ``serve``, ``cypher``), not
            written: the message then says nothing of writes.
    """

    def __init__(self, uri: str, database: str, *, reading: bool = False) -> None:
        self.uri = uri
        self.database = database
        if reading:
            why = (
                "the server is not running, not reachable or was stopped. Start it "
                "(kgbuild neo4j start) or set NEO4J_URI, then ask again."
            )
        else:
            why = (
                "the server is not running, not reachable or was stopped during the write. "
                "Start it (kgbuild neo4j start) or set NEO4J_URI, then run again: writes are "
                "idempotent, a re-run completes without duplicates."
            )
        super().__init__(f"Neo4j at {uri} (database {database!r}) is unavailable: {why}")


class Neo4jAuthError(ConfigError):
    """The Neo4j server refused the configured user and password.

    Args:
        uri: Where the driver connects.
        user: The user name sent.
        password_sent: Whether any password was configured (or found for the local server).
    """

    def __init__(self, uri: str, user: str, *, password_sent: bool) -> None:
        self.uri = uri
        self.user = user
        hint = (
            "the password is wrong: set the right one (NEO4J_PASSWORD, or neo4j.password / "
            "neo4j.password_file in the config)"
            if password_sent
            else "no password is configured: set NEO4J_PASSWORD (or neo4j.password_file), or "
            "start the local server with `kgbuild neo4j start`, whose password kgbuild finds"
        )
        super().__init__(f"Neo4j at {uri} refused user {user!r}: {hint}")


class Neo4jDatabaseNotFoundError(ConfigError):
    """The Neo4j server has no database of the configured name.

    Args:
        uri: Where the driver connects.
        database: The database asked for.
    """

    def __init__(self, uri: str, database: str) -> None:
        self.uri = uri
        self.database = database
        super().__init__(
            f"Neo4j at {uri} has no database {database!r}: set NEO4J_DATABASE (neo4j.database "
            "in the config) to one it has (Neo4j Community has one, 'neo4j', the default), "
            "or create it"
        )


class MissingNodeError(InputError, ValueError):
    """Rows refer to nodes that are neither in the batch nor in the graph."""
