"""Read models this service keeps for its own queries, each with its tracking position."""
