"""Generators of committed files; `dondoc.generate` runs them all."""
