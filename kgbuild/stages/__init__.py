"""Pipeline stages: ingest, chunking, NER, resolution."""
