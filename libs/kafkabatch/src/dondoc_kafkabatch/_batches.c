/* Kafka v2 record batches (magic 2, uncompressed) to Python records, for the analytics
 * rebuild's reader (dondoc_kafkabatch/__init__.py says what it is for and what it is not).
 *
 * parse(data, pos, fetch_offset, end, topic, partition, check_crcs)
 *   -> (records, pos, next_offset, status)
 * reads the batches of `data` (a fetched partition's record set, as the broker sent it) from
 * byte `pos`: every record of a data batch whose offset is >= fetch_offset (and >= the
 * offset after the last one given) and < end, as a `Record` (topic, partition, offset,
 * headers, value); control batches (transaction markers) are skipped, aborted records are
 * given (the uncommitted isolation). Stops at the first batch it does not read (status 1,
 * `pos` at that batch: compressed, or not magic 2), at a record at or past `end` (status 2),
 * or at the end of the complete batches (status 0; a truncated last batch is the broker's
 * fetch limit, as aiokafka's MemoryRecords treats it). `next_offset` is the offset to fetch
 * next, as aiokafka's PartitionRecords.next_fetch_offset. CRC-32C of each batch is checked
 * when check_crcs is true (CorruptBatch otherwise); malformed records raise CorruptBatch.
 *
 * relay (optional): the header names of the relay's forms (a tuple of tuples of str,
 * docs/adr/0016). A record whose headers are exactly one form's, in order, with the values
 * `ContractDecoder.relayed` requires at the positions it reads them, gets `relay` =
 * (ce_type, ce_source, ce_id, ce_sequence, ce_audithash) and keeps its header bytes, made
 * into `headers` only when read; every other record's `relay` is None and its headers are
 * made at once, as before.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* ---- CRC-32C (Castagnoli), as Kafka's record batches use it ---- */

static uint32_t crc_table[8][256];

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_table[0][n];
        for (int t = 1; t < 8; t++) { c = crc_table[0][c & 0xFF] ^ (c >> 8); crc_table[t][n] = c; }
    }
}

static uint32_t crc32c_soft(uint32_t crc, const unsigned char *p, size_t n) {
    crc = ~crc;
    while (n && ((uintptr_t)p & 7)) { crc = crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8); n--; }
    while (n >= 8) {
        uint64_t w; memcpy(&w, p, 8);
        w ^= crc;
        crc = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^
              crc_table[5][(w >> 16) & 0xFF] ^ crc_table[4][(w >> 24) & 0xFF] ^
              crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
              crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][w >> 56];
        p += 8; n -= 8;
    }
    while (n--) crc = crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_HW_CRC 1
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = ~crc;
    while (n && ((uintptr_t)p & 7)) { c = __builtin_ia32_crc32qi((uint32_t)c, *p++); n--; }
    while (n >= 8) { uint64_t w; memcpy(&w, p, 8); c = __builtin_ia32_crc32di(c, w); p += 8; n -= 8; }
    while (n--) c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#endif

static int use_hw_crc = 0;

static uint32_t crc32c(const unsigned char *p, size_t n) {
#ifdef HAVE_HW_CRC
    if (use_hw_crc) return crc32c_hw(0, p, n);
#endif
    return crc32c_soft(0, p, n);
}

/* ---- the record type ---- */

typedef struct {
    PyObject_HEAD
    PyObject *topic;
    PyObject *partition;
    PyObject *offset;
    PyObject *headers;      /* NULL until read, for a record in the relay's form */
    PyObject *value;
    PyObject *relay;        /* (ce_type, ce_source, id, sequence, audit hash), or NULL */
    PyObject *raw_headers;  /* the record's header bytes, while `headers` is NULL */
    Py_ssize_t hcount;
} Record;

static void Record_dealloc(Record *self) {
    Py_XDECREF(self->topic);
    Py_XDECREF(self->partition);
    Py_XDECREF(self->offset);
    Py_XDECREF(self->headers);
    Py_XDECREF(self->value);
    Py_XDECREF(self->relay);
    Py_XDECREF(self->raw_headers);
    PyObject_Free(self);
}

static PyObject *Record_headers(Record *self, void *closure);

static PyObject *Record_repr(Record *self) {
    PyObject *headers = Record_headers(self, NULL);
    if (headers == NULL) return NULL;
    PyObject *repr = PyUnicode_FromFormat(
        "Record(topic=%R, partition=%R, offset=%R, headers=%R, value=%R)",
        self->topic, self->partition, self->offset, headers, self->value);
    Py_DECREF(headers);
    return repr;
}

static PyObject *Record_relay(Record *self, void *closure) {
    PyObject *relay = self->relay != NULL ? self->relay : Py_None;
    Py_INCREF(relay);
    return relay;
}

static PyMemberDef Record_members[] = {
    {"topic", T_OBJECT, offsetof(Record, topic), READONLY, "the topic"},
    {"partition", T_OBJECT, offsetof(Record, partition), READONLY, "the partition"},
    {"offset", T_OBJECT, offsetof(Record, offset), READONLY, "the record's offset"},
    {"value", T_OBJECT, offsetof(Record, value), READONLY, "bytes, or None"},
    {NULL}
};

static PyGetSetDef Record_getset[] = {
    {"headers", (getter)Record_headers, NULL,
     "a tuple of (str, bytes | None) pairs, in the record's order", NULL},
    {"relay", (getter)Record_relay, NULL,
     "for a record in the relay's form (parse's `relay`): (ce_type: bytes, ce_source: bytes, "
     "ce_id: str, ce_sequence: int, ce_audithash: str); else None", NULL},
    {NULL}
};

static PyTypeObject RecordType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dondoc_kafkabatch._batches.Record",
    .tp_basicsize = sizeof(Record),
    .tp_dealloc = (destructor)Record_dealloc,
    .tp_repr = (reprfunc)Record_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A Kafka record as the analytics loaders read it (no key, no timestamp).",
    .tp_members = Record_members,
    .tp_getset = Record_getset,
};

/* ---- header keys: the same few strings on every record, decoded once ----
 * A slot per header position (a record's i-th header key is looked for in slot i first,
 * then in every slot): records of one producer carry the same keys in the same order, so a
 * key is decoded once, and a key not seen at a position replaces the slot's. */

#define KEY_SLOTS 32
#define KEY_MAX 64
typedef struct { Py_ssize_t len; char bytes[KEY_MAX]; PyObject *str; } KeySlot;
static KeySlot keys[KEY_SLOTS];

static PyObject *header_key(const unsigned char *p, Py_ssize_t len, int64_t position) {
    if (len <= KEY_MAX) {
        KeySlot *hint = &keys[position % KEY_SLOTS];
        if (hint->str != NULL && hint->len == len && memcmp(hint->bytes, p, len) == 0) {
            Py_INCREF(hint->str);
            return hint->str;
        }
        for (int i = 0; i < KEY_SLOTS; i++) {
            if (keys[i].str != NULL && keys[i].len == len && memcmp(keys[i].bytes, p, len) == 0) {
                Py_INCREF(keys[i].str);
                return keys[i].str;
            }
        }
    }
    PyObject *s = PyUnicode_DecodeUTF8((const char *)p, len, NULL);
    if (s == NULL) return NULL;
    if (len <= KEY_MAX) {
        PyUnicode_InternInPlace(&s);
        KeySlot *slot = &keys[position % KEY_SLOTS];
        Py_XDECREF(slot->str);
        slot->len = len;
        memcpy(slot->bytes, p, len);
        Py_INCREF(s);
        slot->str = s;
    }
    return s;
}

/* ---- reading ---- */

static PyObject *CorruptBatch;

typedef struct { const unsigned char *p, *end; } Cursor;

static int varlong(Cursor *c, int64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (c->p >= c->end) return -1;
        unsigned char b = *c->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) { *out = (int64_t)((v >> 1) ^ (~(v & 1) + 1)); return 0; }
    }
    return -1;
}

/* ---- headers ---- */

typedef struct { const unsigned char *p; int64_t len; } Span;  /* len -1: null */

/* One header at the cursor, its key and value (not copied); NULL, or what is malformed. */
static const char *scan_header(Cursor *rc, Span *key, Span *val) {
    int64_t hk, hv;
    if (varlong(rc, &hk) < 0 || hk < 0 || hk > rc->end - rc->p) return "a header's key";
    key->p = rc->p; key->len = hk; rc->p += hk;
    if (varlong(rc, &hv) < 0 || hv < -1 || hv > rc->end - rc->p) return "a header's value";
    val->p = rc->p; val->len = hv;
    if (hv > 0) rc->p += hv;
    return NULL;
}

static PyObject *header_pair(Span key, Span val, int64_t position) {
    PyObject *k = header_key(key.p, key.len, position);
    if (k == NULL) return NULL;
    PyObject *v;
    if (val.len < 0) { v = Py_None; Py_INCREF(v); }
    else {
        v = PyBytes_FromStringAndSize((const char *)val.p, val.len);
        if (v == NULL) { Py_DECREF(k); return NULL; }
    }
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) { Py_DECREF(k); Py_DECREF(v); return NULL; }
    PyTuple_SET_ITEM(pair, 0, k);
    PyTuple_SET_ITEM(pair, 1, v);
    return pair;
}

/* The headers of a record whose header bytes were checked by parse (a relayed record's,
 * read when asked for). */
static PyObject *Record_headers(Record *self, void *closure) {
    if (self->headers == NULL) {
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(self->raw_headers);
        Cursor rc = {p, p + PyBytes_GET_SIZE(self->raw_headers)};
        PyObject *headers = PyTuple_New(self->hcount);
        if (headers == NULL) return NULL;
        for (Py_ssize_t h = 0; h < self->hcount; h++) {
            Span key, val;
            PyObject *pair;
            if (scan_header(&rc, &key, &val) != NULL) {
                Py_DECREF(headers);
                PyErr_SetString(PyExc_SystemError, "a relayed record's headers changed");
                return NULL;
            }
            if ((pair = header_pair(key, val, h)) == NULL) { Py_DECREF(headers); return NULL; }
            PyTuple_SET_ITEM(headers, h, pair);
        }
        self->headers = headers;
        Py_CLEAR(self->raw_headers);
    }
    Py_INCREF(self->headers);
    return self->headers;
}

/* Whether n bytes are UTF-8 as Python's strict decoder takes it (no overlong forms, no
 * surrogates, nothing past U+10FFFF). */
static int utf8_valid(const unsigned char *s, Py_ssize_t n) {
    const unsigned char *end = s + n;
    while (s < end) {
        if (end - s >= 8) {
            uint64_t w; memcpy(&w, s, 8);
            if (!(w & 0x8080808080808080ULL)) { s += 8; continue; }
        }
        unsigned char c = *s;
        if (c < 0x80) { s++; continue; }
        if (c < 0xC2) return 0;
        if (c < 0xE0) {
            if (end - s < 2 || (s[1] & 0xC0) != 0x80) return 0;
            s += 2; continue;
        }
        if (c < 0xF0) {
            if (end - s < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
            if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F)) return 0;
            s += 3; continue;
        }
        if (c < 0xF5) {
            if (end - s < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80
                    || (s[3] & 0xC0) != 0x80) return 0;
            if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F)) return 0;
            s += 4; continue;
        }
        return 0;
    }
    return 1;
}

/* The relay's form (the Python side, `ContractDecoder.relayed`, says what it is and reads
 * the same positions): the header names exactly those of one of parse's `relay` forms, in
 * their order; ce_specversion (0) "1.0"; ce_id (1) not empty, UTF-8; ce_type (2) and
 * ce_source (3) present; ce_sequence (8) ASCII digits; ce_audithash (last) 64 bytes, UTF-8;
 * the value present and UTF-8. */
#define RELAY_MAX 12
typedef struct { int forms; Py_ssize_t count[2]; const char *name[2][RELAY_MAX];
                 Py_ssize_t len[2][RELAY_MAX]; } RelayForms;

static int relay_forms(PyObject *relay, RelayForms *out) {
    out->forms = 0;
    if (relay == NULL || relay == Py_None) return 0;
    if (!PyTuple_Check(relay) || PyTuple_GET_SIZE(relay) > 2) {
        PyErr_SetString(PyExc_TypeError, "relay: a tuple of at most two tuples of header names");
        return -1;
    }
    for (Py_ssize_t f = 0; f < PyTuple_GET_SIZE(relay); f++) {
        PyObject *names = PyTuple_GET_ITEM(relay, f);
        if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) < 10
                || PyTuple_GET_SIZE(names) > RELAY_MAX) {
            PyErr_SetString(PyExc_TypeError, "relay: each form 10 to 12 header names");
            return -1;
        }
        out->count[f] = PyTuple_GET_SIZE(names);
        for (Py_ssize_t i = 0; i < out->count[f]; i++) {
            PyObject *name = PyTuple_GET_ITEM(names, i);
            if (!PyUnicode_Check(name)) { PyErr_SetString(PyExc_TypeError, "relay: names are str"); return -1; }
            out->name[f][i] = PyUnicode_AsUTF8AndSize(name, &out->len[f][i]);
            if (out->name[f][i] == NULL) return -1;
        }
        out->forms++;
    }
    return 0;
}

/* (ce_type, ce_source, id, sequence, audit hash) of a record in the relay's form; NULL
 * without an error when it is not in that form. */
static PyObject *relay_of(const RelayForms *forms, const Span *keys, const Span *vals,
                          int64_t hcount, const unsigned char *value, int64_t vlen) {
    int f = -1;
    for (int i = 0; i < forms->forms; i++) if (forms->count[i] == hcount) f = i;
    if (f < 0) return NULL;
    for (int64_t h = 0; h < hcount; h++)
        if (keys[h].len != forms->len[f][h] || memcmp(keys[h].p, forms->name[f][h], keys[h].len) != 0)
            return NULL;
    Span spec = vals[0], ident = vals[1], type = vals[2], source = vals[3], sequence = vals[8],
         audit = vals[hcount - 1];
    if (spec.len != 3 || memcmp(spec.p, "1.0", 3) != 0) return NULL;
    if (ident.len <= 0 || !utf8_valid(ident.p, ident.len)) return NULL;
    if (type.len < 0 || source.len < 0 || sequence.len <= 0) return NULL;
    for (int64_t i = 0; i < sequence.len; i++)
        if (sequence.p[i] < '0' || sequence.p[i] > '9') return NULL;
    if (audit.len != 64 || !utf8_valid(audit.p, audit.len)) return NULL;
    if (vlen < 0 || !utf8_valid(value, vlen)) return NULL;
    PyObject *number;
    if (sequence.len <= 18) {
        long long n = 0;
        for (int64_t i = 0; i < sequence.len; i++) n = n * 10 + (sequence.p[i] - '0');
        number = PyLong_FromLongLong(n);
    } else {  /* as Python's int(): its limit on digits included */
        char *digits = PyMem_Malloc(sequence.len + 1);
        if (digits == NULL) return PyErr_NoMemory();
        memcpy(digits, sequence.p, sequence.len);
        digits[sequence.len] = 0;
        number = PyLong_FromString(digits, NULL, 10);
        PyMem_Free(digits);
    }
    if (number == NULL) return NULL;
    return Py_BuildValue("y#y#s#Ns#", (const char *)type.p, (Py_ssize_t)type.len,
                         (const char *)source.p, (Py_ssize_t)source.len,
                         (const char *)ident.p, (Py_ssize_t)ident.len, number,
                         (const char *)audit.p, (Py_ssize_t)audit.len);
}

static inline int64_t be64(const unsigned char *p) {
    uint64_t v = 0; for (int i = 0; i < 8; i++) v = (v << 8) | p[i]; return (int64_t)v;
}
static inline int32_t be32(const unsigned char *p) {
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]);
}

#define BATCH_OVERHEAD 61
#define CORRUPT(msg) do { PyErr_Format(CorruptBatch, "%s at byte %zd of %U[%S]", msg, \
                                       (Py_ssize_t)(batch - data), topic, partition); goto fail; } while (0)

static PyObject *parse(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    long long fetch_offset, end;
    PyObject *topic, *partition;
    int check_crcs;
    PyObject *relay_names = NULL;
    RelayForms forms;
    if (!PyArg_ParseTuple(args, "y*nLLUOp|O", &view, &pos, &fetch_offset, &end, &topic,
                          &partition, &check_crcs, &relay_names))
        return NULL;
    if (relay_forms(relay_names, &forms) < 0) { PyBuffer_Release(&view); return NULL; }
    const unsigned char *data = view.buf;
    const unsigned char *limit = data + view.len;
    const unsigned char *batch = data + pos;
    int64_t next = fetch_offset;
    int status = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL) { PyBuffer_Release(&view); return NULL; }
    if (pos < 0 || pos > view.len) CORRUPT("position out of the record set");

    while (limit - batch >= 12 + BATCH_OVERHEAD - 12) {
        int64_t base = be64(batch);
        int32_t length = be32(batch + 8);
        if (length < BATCH_OVERHEAD - 12) CORRUPT("a record batch too short");
        if (limit - batch < 12 + (Py_ssize_t)length) break;  /* truncated by the fetch limit */
        const unsigned char *batch_end = batch + 12 + length;
        int magic = batch[16];
        int attributes = (batch[21] << 8) | batch[22];
        if (magic != 2) { status = 1; break; }
        if (check_crcs) {
            uint32_t stored = (uint32_t)be32(batch + 17);
            if (crc32c(batch + 21, (size_t)(batch_end - (batch + 21))) != stored)
                CORRUPT("a record batch whose CRC-32C does not match");
        }
        if ((attributes & 0x07) != 0) { status = 1; break; }  /* compressed: aiokafka's */
        int64_t batch_next = base + be32(batch + 23) + 1;
        if (!(attributes & 0x20)) {  /* not a control batch */
            int32_t count = be32(batch + 57);
            Cursor c = {batch + BATCH_OVERHEAD, batch_end};
            for (int32_t r = 0; r < count; r++) {
                int64_t len, skip, delta, klen, vlen, hcount;
                if (varlong(&c, &len) < 0 || len < 0 || len > c.end - c.p) CORRUPT("a record's length");
                const unsigned char *record_end = c.p + len;
                Cursor rc = {c.p + 1, record_end};  /* past the record's attributes */
                if (len < 1 || varlong(&rc, &skip) < 0 || varlong(&rc, &delta) < 0)
                    CORRUPT("a record's offset");
                int64_t offset = base + delta;
                c.p = record_end;
                if (offset < next) continue;
                if (offset >= end) { status = 2; goto done; }
                if (varlong(&rc, &klen) < 0 || klen < -1 || klen > rc.end - rc.p) CORRUPT("a record's key");
                if (klen > 0) rc.p += klen;
                if (varlong(&rc, &vlen) < 0 || vlen < -1 || vlen > rc.end - rc.p) CORRUPT("a record's value");
                PyObject *value;
                const unsigned char *vstart = rc.p;
                if (vlen < 0) { value = Py_None; Py_INCREF(value); }
                else {
                    value = PyBytes_FromStringAndSize((const char *)rc.p, vlen);
                    if (value == NULL) goto fail;
                    rc.p += vlen;
                }
                if (varlong(&rc, &hcount) < 0 || hcount < 0 || hcount > rc.end - rc.p) {
                    Py_DECREF(value); CORRUPT("a record's header count");
                }
                PyObject *headers = NULL, *relay = NULL, *raw = NULL;
                if (forms.forms && hcount <= RELAY_MAX) {
                    /* read them all, then either the relay's form (headers made when
                     * asked for) or the headers now */
                    Span keys[RELAY_MAX], vals[RELAY_MAX];
                    const unsigned char *first = rc.p;
                    for (int64_t h = 0; h < hcount; h++) {
                        const char *bad = scan_header(&rc, &keys[h], &vals[h]);
                        if (bad != NULL) { Py_DECREF(value); CORRUPT(bad); }
                    }
                    if (rc.p != rc.end) { Py_DECREF(value); CORRUPT("a record's length"); }
                    relay = relay_of(&forms, keys, vals, hcount, vstart, vlen);
                    if (relay == NULL && PyErr_Occurred()) { Py_DECREF(value); goto fail; }
                    if (relay != NULL) {
                        raw = PyBytes_FromStringAndSize((const char *)first, rc.p - first);
                        if (raw == NULL) { Py_DECREF(relay); Py_DECREF(value); goto fail; }
                    } else {
                        headers = PyTuple_New(hcount);
                        if (headers == NULL) { Py_DECREF(value); goto fail; }
                        for (int64_t h = 0; h < hcount; h++) {
                            PyObject *pair = header_pair(keys[h], vals[h], h);
                            if (pair == NULL) { Py_DECREF(value); Py_DECREF(headers); goto fail; }
                            PyTuple_SET_ITEM(headers, h, pair);
                        }
                    }
                } else {
                    headers = PyTuple_New(hcount);
                    if (headers == NULL) { Py_DECREF(value); goto fail; }
                    for (int64_t h = 0; h < hcount; h++) {
                        Span key, val;
                        const char *bad = scan_header(&rc, &key, &val);
                        if (bad != NULL) { Py_DECREF(value); Py_DECREF(headers); CORRUPT(bad); }
                        PyObject *pair = header_pair(key, val, h);
                        if (pair == NULL) { Py_DECREF(value); Py_DECREF(headers); goto fail; }
                        PyTuple_SET_ITEM(headers, h, pair);
                    }
                    if (rc.p != rc.end) { Py_DECREF(value); Py_DECREF(headers); CORRUPT("a record's length"); }
                }
                Record *rec = PyObject_New(Record, &RecordType);
                if (rec == NULL) {
                    Py_DECREF(value); Py_XDECREF(headers); Py_XDECREF(relay); Py_XDECREF(raw);
                    goto fail;
                }
                Py_INCREF(topic); rec->topic = topic;
                Py_INCREF(partition); rec->partition = partition;
                rec->headers = headers;
                rec->value = value;
                rec->relay = relay;
                rec->raw_headers = raw;
                rec->hcount = (Py_ssize_t)hcount;
                rec->offset = PyLong_FromLongLong(offset);
                if (rec->offset == NULL || PyList_Append(out, (PyObject *)rec) < 0) {
                    Py_DECREF(rec); goto fail;
                }
                Py_DECREF(rec);
                next = offset + 1;
            }
            if (c.p != c.end) CORRUPT("a record batch longer than its records");
        }
        if (batch_next > next) next = batch_next;
        batch = batch_end;
    }
done:
    PyBuffer_Release(&view);
    return Py_BuildValue("NnLi", out, (Py_ssize_t)(batch - data), (long long)next, status);
fail:
    PyBuffer_Release(&view);
    Py_DECREF(out);
    return NULL;
}

static PyObject *py_crc32c(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    uint32_t crc = crc32c(view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(crc);
}

static PyObject *py_utf8_valid(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    int valid = utf8_valid(view.buf, view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(valid);
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS,
     "parse(data, pos, fetch_offset, end, topic, partition, check_crcs[, relay]) -> "
     "(records, pos, next_offset, status)"},
    {"crc32c", py_crc32c, METH_O, "CRC-32C of a buffer"},
    {"utf8_valid", py_utf8_valid, METH_O, "whether a buffer is UTF-8 (Python's strict decoding)"},
    {NULL}
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_batches", NULL, -1, methods};

PyMODINIT_FUNC PyInit__batches(void) {
    crc_init();
#ifdef HAVE_HW_CRC
    __builtin_cpu_init();
    use_hw_crc = __builtin_cpu_supports("sse4.2") != 0;
#endif
    if (PyType_Ready(&RecordType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL) return NULL;
    CorruptBatch = PyErr_NewException("dondoc_kafkabatch._batches.CorruptBatch", PyExc_ValueError, NULL);
    if (CorruptBatch == NULL || PyModule_AddObjectRef(m, "CorruptBatch", CorruptBatch) < 0) return NULL;
    if (PyModule_AddObjectRef(m, "Record", (PyObject *)&RecordType) < 0) return NULL;
    if (PyModule_AddIntConstant(m, "HARDWARE_CRC", use_hw_crc) < 0) return NULL;
    return m;
}
