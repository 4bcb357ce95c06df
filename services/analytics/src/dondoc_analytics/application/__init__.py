"""Use cases: one command or reaction per function, named as a sentence."""
