"""Kafka in and out, the translate module (private events to contract events), stores."""
