"""Data layer: one schema, corpus readers, Arrow shards with a manifest, batching, word vectors."""
