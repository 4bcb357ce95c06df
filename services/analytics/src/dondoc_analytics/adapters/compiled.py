"""A decoder for the rebuild's loaders, compiled from the contracts (msgspec).

Replaying history spends most of its Python on building objects per record: the contract's
validation (`model_validate_json`) makes a pydantic event, its rows are built from it, and the
event is written again as the contract serialises it (`model_dump_json`). Nearly every record
on the topics is already that serialisation: the producers publish `to_json_bytes()`. So the
loaders first try a fast path generated from the contracts themselves, and fall back to the
contract for everything else:

1. `msgspec` decodes the value into a `Struct` generated from the contract class (every
   field required, in the contract's order, with its types, enums, lengths, patterns,
   bounds, aware datetimes, nested values), strictly (no coercion);
2. the struct, encoded again, must be the record's bytes exactly, and the text NFC: the
   record is then the contract's own serialisation, so it is stored as it is;
3. the contract's `mode="after"` model validators run on the struct.

The struct is what the loaders build their rows from (one object per record, no pydantic
event): it has the contract's field names, class variables (`event_type`, `service`…) and
properties (`subject`, `has_deadline`…), so the domain functions that read events by
attribute (`facts.business_day`, `facts.task_fact`, `rows.event_values_and_fact`,
`rows.assigned_task_values`) read it as they read the contract event.

A record that fails any step goes through `decode_mapped` (the contract), which accepts or
rejects it, and serialises it, as before. So the fast path only has to be sound: whatever
it accepts, the contract accepts, giving the same values and the same bytes, hence the same
rows (`tests/unit/test_compiled_decoder.py` checks that over every catalogue type, by
property).

The structs are generated from the pydantic field definitions, never written by hand; a
constraint or validator the generator does not know makes generation fail rather than be
skipped, so a contract cannot drift away from its decoder.

At a replay (`replay_record`, the rebuild's loaders; docs/adr/0013) a record a service's
relay wrote — its headers exactly the relay's, in the relay's order, with the log position
and audit hash the relay adds, a catalogue type published under that type's own source —
is trusted to be what the relay made it: the contract's serialisation of an event the
service validated. It is decoded by the struct alone (types, enums, lengths, bounds, moments,
no field missing or unknown) and its bytes stored; steps 2 and 3 are left to `audit verify`,
which checks every such record on Kafka (`unproven`). Every other record is proven as above.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timezone
from functools import cache
from operator import attrgetter
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
import msgspec
from pydantic import AfterValidator, AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from dondoc_contracts import (
    CATALOGUE,
    ContractEvent,
    UndecodableEvent,
    contract_of,
    decode_mapped,
    nfc,
)
from dondoc_contracts.envelope import Envelope, sequence_number, source_for

class NotCompilable(TypeError):
    """The contract uses something the generator does not translate."""


# --------------------------------------------------------------------------- generation


_KNOWN = {annotated_types.MinLen: "min_length", annotated_types.MaxLen: "max_length",
          annotated_types.Ge: "ge", annotated_types.Le: "le", annotated_types.Gt: "gt",
          annotated_types.Lt: "lt"}


def _constraints(metadata: list[Any], where: str) -> dict[str, Any]:
    """msgspec `Meta` keywords for pydantic's field metadata (and its `pattern`). Only
    constraints the generator knows are accepted."""
    meta: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):  # a Field(...) inside Annotated: its own metadata
            meta.update(_constraints(item.metadata, where))
        elif type(item) in _KNOWN:  # MinLen, MaxLen, Ge, Le, Gt, Lt: the same keyword
            name = _KNOWN[type(item)]
            meta[name] = getattr(item, name)
        elif isinstance(item, AfterValidator) and item.func is nfc:
            pass  # the whole record must already be NFC (`ContractDecoder.decode`)
        elif type(item).__name__ == "_PydanticGeneralMetadata" and set(vars(item)) == {"pattern"}:
            meta["pattern"] = item.pattern
        else:
            raise NotCompilable(f"{where}: unknown constraint {item!r}")
    return meta


_CHARACTER_CLASS = re.compile(r"\^(\[[^\]\[]+\])\+\$")


def _character_class(pattern: str, where: str) -> str:
    """The character class of a pattern of the form `^[...]+$` (the identifiers' form).

    msgspec would call Python's `re` once per identifier, which is most of its decoding
    time; a string matches `^[C]+$` exactly when it is not empty and every character is in
    C, so the decoder checks all identifiers of a record at once: `[C]*` over their
    concatenation, the emptiness by `min_length`. (Python's `$` would also match before a
    final newline, where pydantic's Rust regex does not; `fullmatch` has no such case.)
    Any other form of pattern is refused rather than compiled approximately."""
    match = _CHARACTER_CLASS.fullmatch(pattern)
    if match is None or not pattern.isascii():
        raise NotCompilable(f"{where}: pattern {pattern!r} is not of the form ^[...]+$")
    return match.group(1)


class _Compiler:
    """Generates the structs and their checkers for a set of contract models."""

    def __init__(self) -> None:
        self.structs: dict[type, type] = {}
        self.checkers: dict[type, Callable[[Any, list[str]], None]] = {}
        self.character_class: str | None = None  # of every pattern, `_character_class`

    # -- structs ---------------------------------------------------------------------------

    def struct(self, model: type[BaseModel]) -> type:
        """The msgspec Struct of a contract model: its fields in the contract's order, every
        one required (the contract's serialisation writes them all: a record without one is
        not that serialisation, and the contract fills its default)."""
        if model in self.structs:
            return self.structs[model]
        _check_model(model)
        fields = [(name, self.wire_type(info.annotation, list(info.metadata),
                                        f"{model.__name__}.{name}"))
                  for name, info in model.model_fields.items()]
        # gc=False: a decoded struct holds text, numbers, moments, enums and other structs,
        # so it can be in no cycle; untracked, it does not make the collector run more often
        struct = msgspec.defstruct(f"{model.__name__}Wire", fields, kw_only=True,
                                   forbid_unknown_fields=True, gc=False,
                                   namespace=_readable_as(model))
        self.structs[model] = struct
        return struct

    def wire_type(self, tp: Any, metadata: list[Any], where: str) -> Any:
        """The msgspec type of a pydantic annotation with its field metadata."""
        if get_origin(tp) is Annotated:
            inner, *extra = get_args(tp)
            return self.wire_type(inner, [*extra, *metadata], where)
        if get_origin(tp) in (Union, UnionType):
            return self.wire_type(_optional(tp, where), metadata, where) | None
        meta = _constraints(metadata, where)
        if tp is str:
            if "pattern" in meta:
                self._pattern(meta.pop("pattern"), where)
                meta["min_length"] = max(meta.get("min_length", 0), 1)
            return Annotated[str, msgspec.Meta(**meta)] if meta else str
        if "pattern" in meta:
            raise NotCompilable(f"{where}: a pattern on {tp}")
        if tp is int:
            if meta.keys() - {"ge", "le", "gt", "lt"}:
                raise NotCompilable(f"{where}: {meta} on an int")
            return Annotated[int, msgspec.Meta(**meta)] if meta else int
        if meta and not (get_origin(tp) is tuple and meta.keys() <= {"min_length", "max_length"}):
            raise NotCompilable(f"{where}: {meta} on {tp}")
        if tp in (bool, date) or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
            return tp
        if tp is AwareDatetime:
            return Annotated[datetime, msgspec.Meta(tz=True)]
        if get_origin(tp) is tuple:
            item = self.wire_type(_tuple_item(tp, where), [], f"{where}[]")
            return Annotated[tuple[item, ...], msgspec.Meta(**meta)] if meta else tuple[item, ...]
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return self.struct(tp)
        raise NotCompilable(f"{where}: type {tp!r} is not compiled")

    def _pattern(self, pattern: str, where: str) -> None:
        character_class = _character_class(pattern, where)
        if self.character_class not in (None, character_class):
            raise NotCompilable(f"{where}: a second pattern ({pattern!r}); one is compiled")
        self.character_class = character_class

    # -- checking structs -----------------------------------------------------------------

    def checker(self, model: type[BaseModel]) -> Callable[[Any, list[str]], None]:
        """A function that runs the model's `mode="after"` validators on its struct (and on
        the structs inside it, first), as pydantic runs them on the model, and adds the
        strings that carry the pattern to `checked`. A validator refuses by raising."""
        if model in self.checkers:
            return self.checkers[model]
        nested, single, several = [], [], []
        for name, info in model.model_fields.items():
            check = self._nested(info.annotation)
            if check is not None:
                nested.append((name, check))
            carries = _patterned(info.annotation, list(info.metadata))
            if carries == "one":
                single.append(name)
            elif carries == "several":
                several.append(name)
        # the strings of the fields that carry the pattern, in one call (`None` included:
        # the check skips it)
        singles = (attrgetter(*single) if len(single) > 1 else
                   (lambda struct, name=single[0]: (getattr(struct, name),)) if single else None)
        validators = [d.func for d in model.__pydantic_decorators__.model_validators.values()]

        def check(struct: Any, checked: list[str]) -> None:
            if singles is not None:
                checked += singles(struct)
            for name in several:
                checked += getattr(struct, name)
            for name, inner in nested:
                inner(getattr(struct, name), checked)
            for validate in validators:
                validate(struct)

        self.checkers[model] = check
        return check

    def _nested(self, tp: Any) -> Callable[[Any, list[str]], None] | None:
        """How to check a decoded field value, if it holds models."""
        if get_origin(tp) is Annotated:
            return self._nested(get_args(tp)[0])
        if get_origin(tp) in (Union, UnionType):
            inner = self._nested(_optional(tp, str(tp)))
            return None if inner is None else (
                lambda v, checked: None if v is None else inner(v, checked))
        if get_origin(tp) is tuple:
            item = self._nested(_tuple_item(tp, str(tp)))
            if item is None:
                return None

            def each(v: tuple, checked: list[str]) -> None:
                for x in v:
                    item(x, checked)

            return each
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return self.checker(tp)
        return None


def _readable_as(model: type[BaseModel]) -> dict[str, Any]:
    """What a struct takes from its contract class besides the fields, so that code reading
    the contract's events by attribute reads the struct alike: the class variables
    (`event_type`, `service`, `version`…) and the properties (`subject`, `has_deadline`…),
    which read the fields by the same names. Methods are not taken: nothing on the loaders'
    path calls one, and a method could depend on pydantic."""
    namespace: dict[str, Any] = {name: getattr(model, name) for name in model.__class_vars__}
    for klass in reversed(model.__mro__[:model.__mro__.index(BaseModel)]):
        namespace.update((name, value) for name, value in vars(klass).items()
                         if isinstance(value, property))
    return namespace


def _patterned(tp: Any, metadata: list[Any]) -> str | None:
    """Whether a field's value is a string carrying the pattern ("one", perhaps None) or a
    tuple of them ("several")."""
    if get_origin(tp) is Annotated:
        inner, *extra = get_args(tp)
        return _patterned(inner, [*extra, *metadata])
    if get_origin(tp) in (Union, UnionType):
        carries = _patterned(_optional(tp, str(tp)), metadata)
        if carries == "several":
            raise NotCompilable(f"{tp}: an optional tuple of patterned strings")
        return carries
    if get_origin(tp) is tuple:
        return "several" if _patterned(_tuple_item(tp, str(tp)), []) else None
    if tp is str and "pattern" in _constraints(metadata, str(tp)):
        return "one"
    return None


def _optional(tp: Any, where: str) -> Any:
    members = [a for a in get_args(tp) if a is not NoneType]
    if len(members) != 1 or len(get_args(tp)) != 2:
        raise NotCompilable(f"{where}: only `X | None` unions are compiled, not {tp}")
    return members[0]


def _tuple_item(tp: Any, where: str) -> Any:
    args = get_args(tp)
    if len(args) != 2 or args[1] is not Ellipsis:
        raise NotCompilable(f"{where}: only tuple[X, ...] is compiled, not {tp}")
    return args[0]


def _check_model(model: type[BaseModel]) -> None:
    decorators = model.__pydantic_decorators__
    if (decorators.validators or decorators.field_validators or decorators.root_validators
            or decorators.field_serializers or decorators.model_serializers
            or decorators.computed_fields):
        raise NotCompilable(f"{model.__name__}: field validators and serializers are not compiled")
    for name, decorator in decorators.model_validators.items():
        if decorator.info.mode != "after":
            raise NotCompilable(f"{model.__name__}.{name}: only mode='after' model validators")
    config = model.model_config
    if config.get("extra") not in (None, "ignore") or not config.get("frozen"):
        raise NotCompilable(f"{model.__name__}: only frozen models that ignore extra fields")
    if config.get("strict") or config.get("str_strip_whitespace") or config.get("str_to_lower") \
            or config.get("str_to_upper") or config.get("str_min_length") \
            or config.get("str_max_length") or config.get("use_enum_values"):
        raise NotCompilable(f"{model.__name__}: a model_config the generator does not translate")
    if any(info.alias or info.validation_alias or info.serialization_alias or info.exclude
           or info.discriminator for info in model.model_fields.values()):
        raise NotCompilable(f"{model.__name__}: aliases, exclusions and discriminators "
                            "are not compiled")


# --------------------------------------------------------------------------- the decoder


#: What a loader takes of a record: the event's id, position in its service's log and audit
#: hash (the envelope's), the event (its struct, or the contract event), the stored payload.
Decoded = tuple[str, int | None, str | None, Any, str]


class ContractDecoder:
    """`decode_mapped` for a bulk replay, which also gives the bytes to store: the record's
    own when they are the contract's serialisation, else the contract's serialisation."""

    def __init__(self, catalogue: tuple[type[ContractEvent], ...] = CATALOGUE) -> None:
        compiler = _Compiler()
        self._fast: dict[type, tuple[msgspec.json.Decoder, Callable[[Any, list[str]], None]]] = {
            model: (msgspec.json.Decoder(compiler.struct(model)), compiler.checker(model))
            for model in catalogue}
        self.structs = dict(compiler.structs)
        self._by_type = {model.ce_type.encode(): model for model in catalogue}
        # a type's decoder and the source its service's relay publishes it under (the
        # replay's trust, `relayed`)
        self._relayed = {model.ce_type.encode(): (model, self._fast[model][0],
                                                  source_for(model.service).encode())
                         for model in catalogue}
        character_class = compiler.character_class
        self._patterned = (re.compile(f"{character_class}*").fullmatch
                           if character_class else lambda _: True)
        self._encode = msgspec.json.Encoder().encode
        self._is_normalized = unicodedata.is_normalized
        self.fast = 0  # records taken by the fast path (proven, or trusted at a replay)
        self.trusted = 0  # of those, records a replay took as its relay wrote them
        self.slow = 0  # records the contract decoded (or rejected)

    def replay_record(self, headers: Sequence[tuple[str, bytes | None]],
                      value: bytes | None) -> Decoded:
        """`decode_record` at a replay (the rebuild's loaders, docs/adr/0013): a record in
        the form a service's relay writes (`relayed`) is trusted to be its contract's
        serialisation of an event the service validated, so its struct is decoded (typed,
        strictly) and its bytes stored, without the proof's re-encoding, NFC check, model
        validators and identifier pattern; `audit verify` checks those records instead
        (`unproven`). Any other record, or one the struct refuses, is `decode_record`'s."""
        relayed = self.relayed(headers, value)
        if relayed is not None:
            self.fast += 1
            self.trusted += 1
            return relayed
        return self.decode_record(headers, value)

    def replay(self, record: Any) -> Decoded:
        """`replay_record` of a record read, its payload as the stored text's UTF-8 bytes
        (the rebuild's loaders copy them as they are, `projection._copy_events`). A record
        of the compiled reader (`dondoc_kafkabatch`, given `RELAY_FORMS`) carries `relay`
        when it is in the relay's form as `relayed` reads it from the headers — the names
        in order, the spec version, a UTF-8 id, ASCII-digit sequence, 64-byte UTF-8 audit
        hash, a UTF-8 value, checked in C (`services/analytics/tests/unit/test_relayed_records.py` proves the
        two agree) — so only the type's source and its struct are left to check here, and
        neither the headers nor the value are made into Python objects. Any other record
        is `replay_record`'s, as before."""
        relay = getattr(record, "relay", None)
        if relay is not None:
            ce_type, source, event_id, sequence, audit_hash = relay
            relayed = self._relayed.get(ce_type)
            if relayed is not None and source == relayed[2]:
                value = record.value
                try:
                    struct = relayed[1].decode(value)
                except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
                    pass
                else:
                    self.fast += 1
                    self.trusted += 1
                    return event_id, sequence, audit_hash, struct, value
        event_id, sequence, audit_hash, event, payload = self.replay_record(
            record.headers or (), record.value)
        return event_id, sequence, audit_hash, event, payload.encode()

    def relayed(self, headers: Sequence[tuple[str, bytes | None]],
                value: bytes | None) -> Decoded | None:
        """What a replay trusts a record to be, or None when it is not in the relay's form.

        The relay's form (`Envelope.headers`, `envelope_for`): exactly the relay's headers,
        in its order — `ce_specversion` "1.0", `ce_id`, `ce_type` (a catalogue type),
        `ce_source` (that type's service), `ce_subject`, `ce_time`, `ce_dataversion`,
        `content-type`, `ce_sequence` (ASCII digits), `ce_correlationid`, perhaps
        `ce_causationid`, and `ce_audithash` (64 characters) last — read from the pairs by
        position, their names checked, no map built; and a value the type's struct decodes
        (UTF-8). The struct and the bytes are then the decoded event and its payload."""
        if type(headers) is not list and type(headers) is not tuple:
            return None
        if len(headers) == 11:
            try:
                ((n0, spec), (n1, ident), (n2, ce_type), (n3, source), (n4, _), (n5, _), (n6, _),
                 (n7, _), (n8, sequence), (n9, _), (n10, audit)) = headers
            except (TypeError, ValueError):
                return None
            if (n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10) != _RELAYED:
                return None
        elif len(headers) == 12:
            try:
                ((n0, spec), (n1, ident), (n2, ce_type), (n3, source), (n4, _), (n5, _), (n6, _),
                 (n7, _), (n8, sequence), (n9, _), (n10, _), (n11, audit)) = headers
            except (TypeError, ValueError):
                return None
            if (n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11) != _RELAYED_CAUSED:
                return None
        else:
            return None
        relayed = self._relayed.get(ce_type)
        if (relayed is None or spec != b"1.0" or source != relayed[2]
                or type(ident) is not bytes or not ident or type(sequence) is not bytes
                or not sequence.isdigit() or type(audit) is not bytes or len(audit) != 64
                or type(value) is not bytes):
            return None
        try:
            struct = relayed[1].decode(value)
            return ident.decode(), int(sequence), audit.decode(), struct, value.decode()
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
            return None

    def unproven(self, headers: Sequence[tuple[str, bytes | None]],
                 value: bytes | None) -> str | None:
        """Why a record a replay trusts (`relayed`) is not what the proof makes of it (the
        contract refuses it, or stores other bytes), or None: `audit verify` asks this of
        every record on Kafka, so what a rebuild trusted and should not have is named."""
        trusted = self.relayed(headers, value)
        if trusted is None:
            return None  # a replay proves it
        model = self._relayed[headers[2][1]][0]
        if self.event(model, value) is not None:
            return None  # the proof's own fast path: the same struct and bytes
        try:
            proven = self.decode_record(headers, value)
        except UndecodableEvent as e:
            return f"the contract refuses it ({e.reason}: {e.detail})"
        if proven[4] != trusted[4]:
            return "it is not its contract's serialisation of the event (the contract stores other bytes)"
        return None

    def decode_record(self, headers: Sequence[tuple[str, bytes | None]],
                      value: bytes | None) -> Decoded:
        """`decode` of a record as Kafka gives it (its headers a sequence of pairs), making
        the header map only when the contract's path needs it: on the fast path the four
        headers `contract_of` checks and the three the loaders keep are read from the
        pairs as bytes, and only the kept ones decoded. Any header that is not as the fast
        path expects (missing, empty, another spec version, a type it did not compile,
        bytes that are not UTF-8) sends the record down `decode`, with the same map as
        before (`header_values`)."""
        raw = dict(headers)
        model = self._by_type.get(raw.get("ce_type"))
        if (model is not None and raw.get("ce_specversion") == b"1.0" and raw.get("ce_id")
                and raw.get("ce_source")):
            fast = self.event(model, value)
            if fast is not None:
                try:
                    event_id = raw["ce_id"].decode()
                    sequence, audit_hash = _text(raw, "ce_sequence"), _text(raw, "ce_audithash")
                except UnicodeDecodeError:
                    pass
                else:
                    self.fast += 1
                    return (event_id, sequence_number(sequence),
                            audit_hash, fast[0], fast[1])
        return self.decode(header_values(headers), value, try_fast=False)

    def decode(self, h: Mapping[str, str], value: bytes | None, *, try_fast: bool = True) -> Decoded:
        """(event id, position, audit hash, event, payload) of a record, or
        `UndecodableEvent` as `decode_mapped` raises it. The event is the record's struct
        when the fast path takes it, else the contract event; `payload` is the event as the
        contract serialises it. The envelope is not built: the loaders read three of its
        fields, taken from the headers as `envelope_of` takes them."""
        model = contract_of(h)
        fast = self.event(model, value) if try_fast else None
        if fast is None:
            self.slow += 1
            envelope, event = decode_mapped(h, value)
            return (envelope.id, envelope.sequence, envelope.audit_hash, event,
                    event.model_dump_json())
        self.fast += 1
        sequence = h.get("ce_sequence")
        return (h["ce_id"], sequence_number(sequence),
                h.get("ce_audithash"), fast[0], fast[1])

    def event(self, model: type[ContractEvent], value: bytes | None) -> tuple[Any, str] | None:
        """The fast path alone: the struct and its stored text, or None when the record is
        not exactly the contract's serialisation of a valid event."""
        fast = self._fast.get(model)
        if fast is None or type(value) is not bytes:
            return None
        decoder, check = fast
        try:
            struct = decoder.decode(value)
            if self._encode(struct) != value:
                return None
        except (msgspec.ValidationError, msgspec.DecodeError, msgspec.EncodeError,
                UnicodeEncodeError):  # what msgspec refuses goes to the contract
            return None
        if value.isascii():
            text = value.decode("ascii")
        else:
            text = value.decode()
            if not self._is_normalized("NFC", text):
                return None
        checked: list[str] = []
        try:
            check(struct, checked)
        except (ValueError, AssertionError):  # a model validator refused it
            return None
        if not self._patterned("".join(filter(None, checked))):
            return None
        return struct, text


def _relay_names(causation_id: str | None) -> tuple[str, ...]:
    """The names of the headers a relay writes, in its order: taken from the envelope's own
    code (`Envelope.headers`, with every attribute a relay sets), not written again here."""
    envelope = Envelope(id="i", type="t", source="s", subject="s",
                        time=datetime(2000, 1, 1, tzinfo=timezone.utc), sequence=1,
                        correlation_id="i", causation_id=causation_id, audit_hash="0" * 64)
    return tuple(name for name, _ in envelope.headers())


#: the relay's header names in its order, without and with a cause (`relayed`)
_RELAYED = _relay_names(None)
_RELAYED_CAUSED = _relay_names("c")
#: both, for the compiled record reader (`dondoc_kafkabatch.parse`), which reads the values
#: at the positions `relayed` reads them
RELAY_FORMS = (_RELAYED, _RELAYED_CAUSED)
for _names in RELAY_FORMS:
    if (_names[:4] != ("ce_specversion", "ce_id", "ce_type", "ce_source")
            or _names[8] != "ce_sequence" or _names[-1] != "ce_audithash"):
        raise NotCompilable(f"the relay's headers moved: {_names}")  # `relayed` reads by position


def header_values(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """The header map `decode` makes of a `sanitize`d record, in one pass: an empty value
    stays (as ""), bytes that are not UTF-8 are replaced."""
    try:
        return {key: value.decode() if value is not None else "" for key, value in headers}
    except UnicodeDecodeError:
        return {key: value.decode("utf-8", "replace") if value is not None else ""
                for key, value in headers}


_ABSENT = object()


def _text(raw: Mapping[str, bytes | None], key: str) -> str | None:
    """A header of `raw` as `header_values` gives it (None when absent, "" when empty);
    raises UnicodeDecodeError for bytes that are not UTF-8."""
    value = raw.get(key, _ABSENT)
    if value is _ABSENT:
        return None
    return "" if value is None else value.decode()


@cache
def contract_decoder() -> ContractDecoder:
    """The decoder of the whole catalogue (generated once per process)."""
    return ContractDecoder()


__all__ = ["RELAY_FORMS", "ContractDecoder", "NotCompilable", "contract_decoder"]
