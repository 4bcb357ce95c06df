"""The compiled record-batch reader (`dondoc_kafkabatch.parse`, used by
`kafka.read_range(..., compact=True)`) reads what aiokafka's own reader reads.

The batches are made by aiokafka's builder (`DefaultRecordBatchBuilder`, what its producer
sends), several to a record set, with keys, values and header values absent, empty,
Vietnamese and not UTF-8; transactional batches, control batches (transaction markers),
compressed batches, record sets cut short as a fetch limit cuts them, and corrupted
bytes. The oracle is aiokafka's `PartitionRecords` over its `MemoryRecords` with the
uncommitted isolation and CRCs checked, as the fetcher reads a fetched partition.
"""

from __future__ import annotations

import struct

import pytest
from aiokafka.consumer.fetcher import READ_UNCOMMITTED, PartitionRecords
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

import dondoc_kafkabatch as batches

pytestmark = pytest.mark.unit

TP = TopicPartition("dondoc.tasks.v1", 4)
GZIP = DefaultRecordBatch.CODEC_GZIP
CE_KEYS = ["ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "ce_subject",
           "ce_sequence", "ce_audithash", "ce_partitionkey", "content-type"]

blobs = st.one_of(st.none(), st.binary(max_size=40),
                  st.text(max_size=20).map(lambda t: t.encode()),
                  st.just("Báo cáo của Sở Nội vụ".encode()), st.just(b"\xff\xfe\x00"))
keys = st.one_of(st.sampled_from(CE_KEYS), st.text(max_size=80))
records = st.lists(st.tuples(st.integers(0, 2**40), blobs, blobs,
                             st.lists(st.tuples(keys, blobs), max_size=12)),
                   min_size=0, max_size=12)
batch_specs = st.lists(st.tuples(records, st.booleans(), st.sampled_from(["data", "data", "control",
                                                                           "gzip"]),
                                 st.integers(1, 3)),
                       min_size=1, max_size=6)


def build(base: int, rows: list, *, transactional: bool = False, codec: int = 0,
          step: int = 1) -> bytes:
    builder = DefaultRecordBatchBuilder(2, codec, int(transactional), 7 if transactional else -1,
                                        0 if transactional else -1, -1, 10**8)
    for i, (timestamp, key, value, headers) in enumerate(rows):
        builder.append(i * step, timestamp, key, value, headers)
    data = bytearray(builder.build())
    struct.pack_into(">q", data, 0, base)
    return bytes(data)


def as_control(data: bytes) -> bytes:
    """The batch made a control batch (attributes bit 5), its CRC-32C made anew."""
    data = bytearray(data)
    attributes = struct.unpack_from(">h", data, 21)[0] | 0x20
    struct.pack_into(">h", data, 21, attributes)
    struct.pack_into(">I", data, 17, batches.crc32c(bytes(data[21:])))
    return bytes(data)


def record_set(specs: list) -> tuple[bytes, list[int]]:
    """Batches one after the other, as a partition's log holds them; their byte positions."""
    out, starts, base = b"", [], 0
    for rows, transactional, kind, step in specs:
        rows = rows or [(0, None, b"", [])]
        if kind == "control":
            rows = [(0, b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00", [])]
        data = build(base, rows, transactional=transactional or kind == "control",
                     codec=GZIP if kind == "gzip" else 0, step=step)
        if kind == "control":
            data = as_control(data)
        starts.append(len(out))
        out += data
        base += (len(rows) - 1) * step + 1
    return out, starts


def theirs(data: bytes, fetch_offset: int, end: int):
    """aiokafka's reading: (offset, headers, value) of each record below `end`, and the
    offset it fetches next when it read everything."""
    partition = PartitionRecords(TP, MemoryRecords(data), None, fetch_offset, None, None, True,
                                 READ_UNCOMMITTED)
    got = []
    for record in partition:
        if record.offset >= end:
            return got, None
        got.append((record.offset, tuple(record.headers), record.value))
    return got, partition.next_fetch_offset


def mine(data: bytes, fetch_offset: int, end: int):
    """The compiled reader's, handing batches it does not read to aiokafka as `_Compact` does."""
    records, pos, next_offset, status = batches.parse(data, 0, fetch_offset, end, TP.topic,
                                                      TP.partition, True)
    assert all(r.topic is TP.topic and r.partition == TP.partition for r in records)
    got = [(r.offset, r.headers, r.value) for r in records]
    if status == batches.UNSUPPORTED:
        rest, next_offset = theirs(data[pos:], next_offset, end)
        return got + rest, next_offset
    return got, None if status == batches.AT_END else next_offset


@settings(max_examples=200, deadline=None)
@given(batch_specs, st.integers(0, 60), st.data())
def test_the_same_records_as_aiokafka_s_reader(specs, end_after, data) -> None:
    raw, _ = record_set(specs)
    # a fetch from an offset in the first batch (a broker sends from the batch holding it)
    rows, _, kind, step = specs[0]
    fetch_offset = data.draw(st.integers(0, 0 if kind == "control" else
                                         max(len(rows) - 1, 0) * step))
    end = fetch_offset + end_after
    expected = theirs(raw, fetch_offset, end)
    assert mine(raw, fetch_offset, end) == expected
    # a record set cut anywhere, as a fetch's size limit cuts the last batch
    cut = data.draw(st.integers(0, len(raw)))
    assert mine(raw[:cut], fetch_offset, end) == theirs(raw[:cut], fetch_offset, end)


@settings(max_examples=200, deadline=None)
@given(records.filter(bool), st.data())
def test_a_corrupted_batch_is_refused_as_aiokafka_refuses_it(rows, data) -> None:
    raw = bytearray(build(0, rows))
    at = data.draw(st.integers(21, len(raw) - 1))  # the bytes its CRC-32C covers
    raw[at] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(CorruptRecordException):
        theirs(bytes(raw), 0, 10**9)
    with pytest.raises(batches.CorruptBatch, match="CRC-32C"):
        batches.parse(bytes(raw), 0, 0, 10**9, TP.topic, TP.partition, True)


def test_the_types_and_the_header_keys_decoded_once() -> None:
    rows = [(1, b"k", "Hà Nội".encode(), [(key, f"{key}-{n}".encode()) for key in CE_KEYS]
             + [("trống", None), ("rỗng", b"")]) for n in range(3)] + [(1, None, None, [])]
    got, _, next_offset, status = batches.parse(build(100, rows), 0, 0, 10**9, TP.topic, 4, True)
    assert (status, next_offset, [r.offset for r in got]) == (batches.READ_ALL, 104,
                                                                [100, 101, 102, 103])
    first, second, _, last = got
    assert first.headers == tuple((key, f"{key}-0".encode()) for key in CE_KEYS) + (
        ("trống", None), ("rỗng", b""))
    assert all(a is b for (a, _), (b, _) in zip(first.headers, second.headers))
    assert (first.value, last.value, last.headers) == ("Hà Nội".encode(), None, ())
    assert type(first.offset) is int and type(first.headers) is tuple


def test_a_header_key_that_is_not_utf8_is_an_error_as_in_aiokafka() -> None:
    raw = bytearray(build(0, [(1, None, b"v", [("ab", b"x")])]))
    at = bytes(raw).index(b"ab")
    raw[at] = 0xFF
    raw[17:21] = struct.pack(">I", batches.crc32c(bytes(raw[21:])))
    with pytest.raises(UnicodeDecodeError):
        theirs(bytes(raw), 0, 10)
    with pytest.raises(UnicodeDecodeError):
        batches.parse(bytes(raw), 0, 0, 10, TP.topic, 0, True)


def test_crc32c_is_kafka_s() -> None:
    from aiokafka.record.util import calc_crc32c

    for payload in [b"", b"a", b"123456789", bytes(range(256)) * 9, b"\xff" * 1001]:
        assert batches.crc32c(payload) == calc_crc32c(payload)
    assert batches.crc32c(b"123456789") == 0xE3069283  # the check value of CRC-32C
