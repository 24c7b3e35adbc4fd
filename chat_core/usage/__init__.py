"""Usage and cost: what each user asked of each model, and what the endpoints cost."""
