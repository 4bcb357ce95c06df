"""Shared plumbing of the dondoc services: settings, stores, Kafka, outbox, inbox."""
