"""Model zoo: embeddings, encoders, heads by task kind, and the architectures of the three papers."""
