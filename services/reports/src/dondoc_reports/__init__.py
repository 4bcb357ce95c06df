"""The reports service of dondoc (see docs/ARCHITECTURE.md for its place in the suite)."""
