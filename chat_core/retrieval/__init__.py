"""Answers from the user's documents: embeddings, passages, indexes and search."""
