"""HTTP API and worker processes: they only translate input into use-case calls."""
