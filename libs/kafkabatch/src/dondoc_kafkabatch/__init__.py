"""Kafka v2 record batches read in C, for the analytics rebuild's reader
(`dondoc_analytics.adapters.kafka.read_range(..., compact=True)`; docs/adr/0014).

aiokafka fetches (connections, fetch requests, offsets, retries); this reads the record
sets it fetched into `Record`s with the five attributes the loaders read (topic,
partition, offset, headers, value), the header keys decoded once for all records. It reads
uncompressed batches of magic 2 only (what the project's producers write); the caller hands
any other batch to aiokafka. Built by setuptools when the workspace is installed: there is
no pure-Python fallback, an absent build is an ImportError.

Given the relay's header names (`parse`'s `relay`, docs/adr/0016), a record in the relay's
form also carries `relay` — (ce_type, ce_source, ce_id, ce_sequence, ce_audithash), checked
as `ContractDecoder.relayed` checks them — and its headers are made only when read.
`utf8_valid` is the check of its text (Python's strict UTF-8).
"""

from dondoc_kafkabatch._batches import (
    HARDWARE_CRC,
    CorruptBatch,
    Record,
    crc32c,
    parse,
    utf8_valid,
)

#: parse()'s status: every complete batch read; a batch it does not read at `pos`; a record
#: at or past the range's end reached
READ_ALL, UNSUPPORTED, AT_END = 0, 1, 2

__all__ = ["AT_END", "HARDWARE_CRC", "READ_ALL", "UNSUPPORTED", "CorruptBatch", "Record",
           "crc32c", "parse", "utf8_valid"]
