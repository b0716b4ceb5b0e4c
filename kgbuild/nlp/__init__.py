"""Model plumbing: loading, word-piece alignment, words, tiny test models."""
