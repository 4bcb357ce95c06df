"""Aggregates and rules in the office's words; imports nothing from the layers around it."""
