"""Answers from the user's documents: passages, embeddings, the index and search."""
