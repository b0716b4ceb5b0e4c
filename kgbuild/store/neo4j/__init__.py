"""Neo4j: the local server, the Cypher queries, the schema guard and the batched writer."""
