"""The compiled record reader's relay form (`dondoc_kafkabatch.parse(..., relay)`, read by
`ContractDecoder.replay`; docs/adr/0016) decides as `ContractDecoder.relayed` decides.

The reader checks in C what `relayed` checks of a record's headers and value (the names in
the relay's order, the spec version, a UTF-8 id, ASCII digits, a 64-byte UTF-8 audit hash, a
UTF-8 value) and leaves the headers unmade; `replay` then checks the type's source and its
struct. The oracle is the Python path itself: `replay_record` over the headers and value
aiokafka's builder wrote (what the loaders did before), its payload encoded.
"""

from __future__ import annotations

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from hypothesis import given, settings
from hypothesis import strategies as st

import dondoc_kafkabatch as batches
from dondoc_analytics.adapters.compiled import RELAY_FORMS, ContractDecoder
from dondoc_contracts import CATALOGUE, UndecodableEvent, encode, envelope_for
from dondoc_contracts import events as ev

pytestmark = pytest.mark.unit

DECODER = ContractDecoder()


def _relay_record(model, causation: str | None = None) -> tuple[list[tuple[str, bytes | None]], bytes]:
    example = model.example()
    _, canonical, headers = encode(example, envelope_for(
        example, position=7, audit_hash="ab" * 32, causation_id=causation))
    return list(headers), canonical


def _read(records: list[tuple[list, bytes | None]]) -> list:
    """The records as the loaders' reader reads them (one batch, aiokafka's builder)."""
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 10**8)
    for i, (headers, value) in enumerate(records):
        builder.append(i, 0, None, value, headers)
    out, _, _, status = batches.parse(bytes(builder.build()), 0, 0, len(records), "t", 0, True,
                                      RELAY_FORMS)
    assert status == batches.AT_END or len(out) == len(records)
    return out


def _outcome(decode, *args) -> tuple:
    try:
        return ("accepted", *decode(*args))
    except UndecodableEvent as e:
        return ("rejected", type(e), e.detail)


def _python(headers, value) -> tuple:
    """The loaders' decode before: `replay_record` of the headers, the payload encoded."""
    out = _outcome(DECODER.replay_record, headers, value)
    return out if out[0] == "rejected" else (*out[:5], _plain(out[4]), out[5].encode())


def _compiled(record) -> tuple:
    out = _outcome(DECODER.replay, record)
    return out if out[0] == "rejected" else (*out[:5], _plain(out[4]), out[5])


def _plain(event) -> object:
    import msgspec

    return msgspec.to_builtins(event) if isinstance(event, msgspec.Struct) \
        else event.model_dump(mode="json")


def _in_form(headers, value) -> bool:
    """What the reader checks, as `relayed` checks it before the type's source and struct."""
    if tuple(name for name, _ in headers) not in RELAY_FORMS:
        return False
    values = [v for _, v in headers]
    spec, ident, ce_type, source, sequence, audit = (*values[:4], values[8], values[-1])
    if (spec != b"1.0" or not ident or ce_type is None or source is None or not sequence
            or not sequence.isdigit() or audit is None or len(audit) != 64 or value is None):
        return False
    try:
        ident.decode(), audit.decode(), value.decode()
    except UnicodeDecodeError:
        return False
    return True


def _relayed_by_python(headers, value) -> bool:
    return DECODER.relayed(headers, value) is not None


def _trusted_by_reader(record) -> bool:
    trusted = DECODER.trusted
    _outcome(DECODER.replay, record)  # a record no contract accepts: refused, not trusted
    return DECODER.trusted == trusted + 1


#: values each checked header (and the value) may take: the relay's own, and near misses
_SPECS = [b"1.0", b"1.0 ", b"1", b"", None, b"2.0"]
_IDS = [b"e-1", "sự-kiện".encode(), b"", None, b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"a\x00"]
_SEQUENCES = [b"7", b"0", b"007", b"9" * 18, b"9" * 19, b"1" * 40, b"", None, b"-7", b"+7",
              "²".encode(), "٣".encode(), b"1_0", b" 7", b"7\n"]
_AUDITS = [b"ab" * 32, b"ab" * 31, b"ab" * 32 + b"a", b"", None, b"\xff" * 64,
           ("ạ" * 21 + "a").encode(), b"\xf4\x90\x80\x80" * 16]
_VALUES = ["ok", None, b"", b"\xff", b"{", b'{"x": 1}', "ok\xff", "ok\xed\xa0\x80", "ok\xf0\x8f"]


@st.composite
def _relay_like(draw: st.DrawFn) -> tuple[list[tuple[str, bytes | None]], bytes | None]:
    """A relay's record with any of its checked values replaced by a near miss, its type
    or source perhaps another's, a header renamed, dropped or added."""
    model = draw(st.sampled_from(CATALOGUE))
    headers, value = _relay_record(model, draw(st.sampled_from([None, "c-1"])))
    position = {name: i for i, (name, _) in enumerate(headers)}
    for name, choices in (("ce_specversion", _SPECS), ("ce_id", _IDS), ("ce_sequence", _SEQUENCES),
                          ("ce_audithash", _AUDITS)):
        if draw(st.integers(0, 3)) == 0:
            headers[position[name]] = (name, draw(st.sampled_from(choices)))
    if draw(st.integers(0, 5)) == 0:
        other = draw(st.sampled_from(CATALOGUE))
        headers[position["ce_type"]] = ("ce_type", other.ce_type.encode())
    if draw(st.integers(0, 5)) == 0:
        headers[position["ce_source"]] = ("ce_source", draw(st.sampled_from(
            [None, b"", b"/dondoc/tasks", b"/dondoc/reports", b"/dondoc/directives"])))
    change = draw(st.sampled_from(["none"] * 4 + ["rename", "drop", "add", "swap"]))
    i = draw(st.integers(0, len(headers) - 1))
    if change == "rename":
        headers[i] = (draw(st.sampled_from([headers[i][0] + "x", headers[i][0].upper(),
                                            "ce_time", "ce_specversion"])), headers[i][1])
    elif change == "drop":
        del headers[i]
    elif change == "add":
        headers.insert(i, (draw(st.sampled_from(["ce_extra", "ce_id", "ce_audithash"])), b"1"))
    elif change == "swap" and i + 1 < len(headers):
        headers[i], headers[i + 1] = headers[i + 1], headers[i]
    odd = draw(st.sampled_from(_VALUES))
    if odd != "ok":
        value = (value[:-1] + odd[2:].encode("latin-1")) if isinstance(odd, str) else odd
    return headers, value


@settings(max_examples=1500, deadline=None, database=None)
@given(st.lists(_relay_like(), min_size=1, max_size=4))
def test_the_reader_trusts_what_relayed_trusts_and_replays_as_before(records) -> None:
    """Over relay records with near misses in every value the form checks: the reader's
    record is trusted exactly when `relayed` trusts the headers and value, `replay` of it
    gives what `replay_record` gives (values, struct, payload bytes, or the same refusal),
    and its headers, made when read, are the ones written."""
    read = _read(records)
    assert len(read) == len(records)
    for (headers, value), record in zip(records, read, strict=True):
        assert (record.relay is not None) == _in_form(headers, value)
        assert record.headers == tuple(headers)
        assert record.value == value
        assert _trusted_by_reader(record) == _relayed_by_python(headers, value)
        assert _compiled(record) == _python(headers, value)


@settings(max_examples=3000, deadline=None, database=None)
@given(st.one_of(st.binary(max_size=24),
                 st.text(max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.lists(st.sampled_from([b"a", b"\x80", b"\xbf", b"\xc0", b"\xc1", b"\xc2",
                                           b"\xdf", b"\xe0", b"\xa0", b"\x9f", b"\xed", b"\xef",
                                           b"\xf0", b"\x8f", b"\x90", b"\xf4", b"\xf5", b"\xff",
                                           "ạ".encode(), "😀".encode()]),
                          max_size=12).map(b"".join)))
def test_the_readers_utf8_check_is_pythons(data: bytes) -> None:
    """`utf8_valid` (the reader's check of ids, audit hashes and values) accepts exactly
    what Python's strict UTF-8 decoder accepts: overlong forms, surrogates, bytes past
    U+10FFFF and cut sequences refused."""
    try:
        data.decode()
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert batches.utf8_valid(data) is valid
    assert batches.utf8_valid(b"padding!" + data + b"padding!") is valid


@pytest.mark.parametrize("data", [
    b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xf0\x80\x80\x80",
    b"\xf0\x8f\xbf\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
    b"\xff", b"\x80", b"\xe1\x80", b"\xf1\x80\x80", b"\xe1\x80\xc0",
    b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbf",
    b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf", "Sở Nội vụ".encode()])
def test_the_readers_utf8_check_at_each_boundary(data: bytes) -> None:
    """The boundaries of each length (overlong forms, surrogates, U+10FFFF, cut sequences)."""
    test_the_readers_utf8_check_is_pythons.hypothesis.inner_test(data)


@pytest.mark.parametrize("causation", [None, "c-1"])
@pytest.mark.parametrize("model", CATALOGUE, ids=lambda m: m.__name__)
def test_every_relayed_type_is_trusted_from_the_reader(model, causation) -> None:
    headers, value = _relay_record(model, causation)
    record, = _read([(headers, value)])
    assert record.relay == (model.ce_type.encode(), dict(headers)["ce_source"], dict(headers)["ce_id"].decode(),
                            7, "ab" * 32)
    trusted = _relayed_by_python(headers, value)  # all but UnitRegistered (its struct's default)
    assert _trusted_by_reader(record) == trusted
    payload = _outcome(DECODER.replay, record)[5]
    assert payload == value
    if trusted:
        assert payload is record.value  # the record's own bytes, not a copy
    assert record.headers == tuple(headers)


def test_a_reader_without_the_relay_forms_gives_every_header_as_before() -> None:
    headers, value = _relay_record(ev.TaskAssigned)
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 10**8)
    builder.append(0, 0, None, value, headers)
    record, = batches.parse(bytes(builder.build()), 0, 0, 1, "t", 0, True)[0]
    assert record.relay is None and record.headers == tuple(headers)
    assert _compiled(record) == _python(headers, value)


@pytest.mark.parametrize("relay", [("x",), (("ce_id",),), ((1,) * 11,), (RELAY_FORMS[0],) * 3])
def test_odd_relay_forms_are_refused(relay) -> None:
    with pytest.raises(TypeError):
        batches.parse(b"", 0, 0, 1, "t", 0, True, relay)
