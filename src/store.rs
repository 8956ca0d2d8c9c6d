//! The realm file: one SQLite database in WAL mode. This module owns the tables, the on-disk
//! encoding of objects, and the primitive reads and writes every higher layer goes through.

use crate::changeset::ElemId;
use crate::error::{Error, Result};
use crate::list::{Elem, RgaList};
use crate::mixed::{MAX_DEPTH, MixedItem, Nested};
use crate::schema::{ClassSchema, Property, Schema};
use crate::value::{ObjectId, PrimaryKey, ScalarType, Timestamp, Uuid, Value};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Version of the file layout. Bumped on any incompatible change of tables or encodings.
pub const FILE_FORMAT_VERSION: i64 = 1;

const CREATE_TABLES: &str = "
CREATE TABLE ds_meta(key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
CREATE TABLE ds_objects(class INTEGER NOT NULL, pk BLOB NOT NULL, data BLOB NOT NULL, hash INTEGER, PRIMARY KEY(class, pk)) WITHOUT ROWID;
CREATE TABLE ds_backlinks(tclass INTEGER NOT NULL, tpk BLOB NOT NULL, sclass INTEGER NOT NULL, spk BLOB NOT NULL,
    PRIMARY KEY(tclass, tpk, sclass, spk)) WITHOUT ROWID;
CREATE INDEX ds_backlinks_by_source ON ds_backlinks(sclass, spk);
CREATE TABLE ds_history(version INTEGER PRIMARY KEY, changeset BLOB NOT NULL, server_version INTEGER);
";

/// Objects a local changeset created (or a rebase re-created) that the server may not have yet:
/// (class name, primary key bytes, local version of that changeset). See `sync_meta`.
/// With it, an index of the history by server version: forgetting creations asks which local
/// versions the server has, and reading `server_version` from a history row would walk the
/// changeset's overflow pages first (a large changeset: hundreds of pages, once per creation).
/// Both are added to files from before them when they are opened.
const CREATE_LOCAL_CREATIONS: &str = "CREATE TABLE IF NOT EXISTS ds_local_creations(class TEXT NOT NULL, pk BLOB NOT NULL, version INTEGER NOT NULL, PRIMARY KEY(class, pk)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ds_history_by_server_version ON ds_history(server_version);";

/// One stored property value: a scalar, a list or a set.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Value(Value),
    List(RgaList),
    /// The elements of a set, in canonical order (see `set_insert`), so every replica stores
    /// (and shows) the same set the same way.
    Set(Vec<Value>),
    /// A dictionary, in key order.
    Dict(BTreeMap<String, Value>),
    /// A nested list or dictionary held by a single `mixed` property (a mixed holding a scalar
    /// is a `Value`).
    Nested(Nested),
    /// One embedded object (issue 15) with its id (given when it was created, so a change
    /// addressed to an object that was since replaced is recognised) and its fields, in its
    /// class's layout. A property holding none stores `Value(Null)`.
    Embedded(ElemId, Box<ObjectData>),
    /// A list of embedded objects (an empty one may still be stored as an empty `List`).
    EmbeddedList(crate::embedded::EmbeddedList),
}

impl Field {
    /// The primary keys this field links to (a link, or the links of a list or set).
    pub fn links(&self) -> Vec<&PrimaryKey> {
        match self {
            Field::Value(v) => v.as_link().into_iter().collect(),
            Field::List(l) => l.visible().filter_map(|e| e.value.as_link()).collect(),
            Field::Set(s) => s.iter().filter_map(Value::as_link).collect(),
            Field::Dict(d) => d.values().filter_map(Value::as_link).collect(),
            Field::Nested(_) => Vec::new(),
            // Embedded classes hold no links (see `embedded::validate_embedded_class`).
            Field::Embedded(..) | Field::EmbeddedList(_) => Vec::new(),
        }
    }

    /// The typed links (class, primary key) this field holds: those of `mixed` values.
    pub fn typed_links(&self) -> Vec<(&str, &PrimaryKey)> {
        match self {
            Field::Value(v) => v.as_typed_link().into_iter().collect(),
            Field::List(l) => l.visible().filter_map(|e| e.value.as_typed_link()).collect(),
            Field::Set(s) => s.iter().filter_map(Value::as_typed_link).collect(),
            Field::Dict(d) => d.values().filter_map(Value::as_typed_link).collect(),
            Field::Nested(n) => n.typed_links(),
            Field::Embedded(..) | Field::EmbeddedList(_) => Vec::new(),
        }
    }

    /// The greatest lamport value of the element and collection ids in this field (0 if none),
    /// so that new ids made after loading it are greater.
    pub fn max_lamport(&self) -> u64 {
        match self {
            Field::List(l) => l.max_lamport(),
            Field::Nested(n) => n.max_lamport(),
            Field::Embedded(id, data) => data.fields.iter().map(Field::max_lamport).fold(id.lamport, u64::max),
            Field::EmbeddedList(l) => l.max_lamport(),
            Field::Value(_) | Field::Set(_) | Field::Dict(_) => 0,
        }
    }
}

/// The canonical order of set elements: by their record encoding (bitwise for doubles, so NaN
/// and -0.0 are elements like any other).
fn set_key(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(&mut out, v);
    out
}

/// Adds `v` to a set kept in canonical order; false if it is already there.
pub fn set_insert(set: &mut Vec<Value>, v: Value) -> bool {
    let key = set_key(&v);
    match set.binary_search_by(|e| set_key(e).cmp(&key)) {
        Ok(_) => false,
        Err(i) => {
            set.insert(i, v);
            true
        }
    }
}

/// Removes `v` from a set; false if it was not there.
pub fn set_remove(set: &mut Vec<Value>, v: &Value) -> bool {
    let key = set_key(v);
    match set.binary_search_by(|e| set_key(e).cmp(&key)) {
        Ok(i) => {
            set.remove(i);
            true
        }
        Err(_) => false,
    }
}

/// Whether a set kept in canonical order holds `v`.
pub fn set_contains(set: &[Value], v: &Value) -> bool {
    let key = set_key(v);
    set.binary_search_by(|e| set_key(e).cmp(&key)).is_ok()
}

/// Puts set elements into canonical order and removes repeats.
pub fn set_normalize(set: &mut Vec<Value>) {
    set.sort_by_cached_key(set_key);
    set.dedup_by(|a, b| a.same_as(b));
}

/// An object's stored fields, indexed like its class's properties.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectData {
    pub fields: Vec<Field>,
}

/// The default of a property on a new object (or one added to the schema later).
pub fn default_field(p: &Property) -> Field {
    if p.list {
        return Field::List(RgaList::default());
    }
    if p.set {
        return Field::Set(Vec::new());
    }
    if p.dictionary {
        return Field::Dict(BTreeMap::new());
    }
    if p.optional {
        return Field::Value(Value::Null);
    }
    Field::Value(match p.kind {
        ScalarType::Bool => Value::Bool(false),
        ScalarType::Int => Value::Int(0),
        ScalarType::Double => Value::Double(0.0),
        ScalarType::String => Value::String(String::new()),
        ScalarType::Binary => Value::Binary(Vec::new()),
        ScalarType::Timestamp => Value::Timestamp(Timestamp(0)),
        ScalarType::ObjectId => Value::ObjectId(ObjectId([0; 12])),
        ScalarType::Uuid => Value::Uuid(Uuid([0; 16])),
        ScalarType::Link | ScalarType::Mixed => Value::Null,
    })
}

impl ObjectData {
    pub fn new_default(class: &ClassSchema) -> Self {
        ObjectData { fields: class.properties.iter().map(default_field).collect() }
    }

    pub fn value(&self, idx: usize) -> &Value {
        match self.fields.get(idx) {
            Some(Field::Value(v)) => v,
            _ => &Value::Null,
        }
    }

    pub fn list(&self, idx: usize) -> Option<&RgaList> {
        match self.fields.get(idx) {
            Some(Field::List(l)) => Some(l),
            _ => None,
        }
    }

    pub fn list_mut(&mut self, idx: usize) -> Option<&mut RgaList> {
        match self.fields.get_mut(idx) {
            Some(Field::List(l)) => Some(l),
            _ => None,
        }
    }

    pub fn set_elements(&self, idx: usize) -> Option<&[Value]> {
        match self.fields.get(idx) {
            Some(Field::Set(s)) => Some(s),
            _ => None,
        }
    }

    pub fn dict(&self, idx: usize) -> Option<&BTreeMap<String, Value>> {
        match self.fields.get(idx) {
            Some(Field::Dict(d)) => Some(d),
            _ => None,
        }
    }

    pub fn dict_mut(&mut self, idx: usize) -> Option<&mut BTreeMap<String, Value>> {
        match self.fields.get_mut(idx) {
            Some(Field::Dict(d)) => Some(d),
            _ => None,
        }
    }

    pub fn set_mut(&mut self, idx: usize) -> Option<&mut Vec<Value>> {
        match self.fields.get_mut(idx) {
            Some(Field::Set(s)) => Some(s),
            _ => None,
        }
    }
}

/// The properties whose values differ between two states of an object, as observers see them:
/// scalars by `Value::same_as`, lists by their visible values (element ids and tombstones are
/// bookkeeping, not a change).
pub fn changed_properties<'a>(class: &ClassSchema, old: &'a ObjectData, new: &'a ObjectData) -> impl Iterator<Item = usize> + 'a {
    (0..class.properties.len()).filter(|&i| field_changed(old.fields.get(i), new.fields.get(i)))
}

/// Whether one property differs between two states, as `changed_properties` compares them.
pub fn field_changed(old: Option<&Field>, new: Option<&Field>) -> bool {
    let same = match (old, new) {
        (Some(Field::Value(a)), Some(Field::Value(b))) => a.same_as(b),
        (Some(Field::List(a)), Some(Field::List(b))) => a.visible().map(|e| &e.value).eq(b.visible().map(|e| &e.value)),
        (Some(Field::Set(a)), Some(Field::Set(b))) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y)),
        (Some(Field::Dict(a)), Some(Field::Dict(b))) => {
            a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && va.same_as(vb))
        }
        (a, b) => a == b,
    };
    !same
}

// ---- encoding ------------------------------------------------------------------------------
// A small hand-written format, because objects are decoded on every scan: a u16 field count,
// then per field a tag byte and its payload. Trailing fields missing from older records read as
// the property's default, which is how additive migrations cost nothing.

const T_NULL: u8 = 0;
const T_FALSE: u8 = 1;
const T_TRUE: u8 = 2;
const T_INT: u8 = 3;
const T_DOUBLE: u8 = 4;
const T_STRING: u8 = 5;
const T_BINARY: u8 = 6;
const T_TIMESTAMP: u8 = 7;
const T_OBJECTID: u8 = 8;
const T_UUID: u8 = 9;
const T_LINK: u8 = 10;
/// A typed link (in a `mixed`): the class name (u32 length + UTF-8), then the target's key
/// bytes (u32 length + bytes) (added for issue 15).
const T_TYPED_LINK: u8 = 11;
const T_LIST: u8 = 32;
/// A set: u32 count, then the tagged values in canonical order (added for issue 15).
const T_SET: u8 = 33;
/// A dictionary: u32 count, then per entry in key order the key (u32 length + UTF-8) and the
/// tagged value (added for issue 15).
const T_DICT: u8 = 34;
/// A nested list in a `mixed`: its id (lamport u64, peer u64), u32 count, then per element
/// lamport, peer, erased u8 and the element as a mixed item (a tagged value or a nested
/// collection) (added for issue 15).
const T_NESTED_LIST: u8 = 35;
/// A nested dictionary in a `mixed`: its id, u32 count, then per entry in key order the key
/// (u32 length + UTF-8) and the mixed item (added for issue 15).
const T_NESTED_DICT: u8 = 36;
/// An embedded object: its id (lamport u64, peer u64), then its fields as a nested record body
/// (u16 count + tagged fields). Added for issue 15; 48 and up leaves room for other new kinds.
const T_EMBEDDED: u8 = 48;
/// A list of embedded objects: u32 count, then per element its id (lamport u64, peer u64) and a
/// live byte: 1 followed by the object's nested record body, or 0 for an erased element (a
/// tombstone, kept so inserts anchored on it keep their place).
const T_EMBEDDED_LIST: u8 = 49;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

pub fn encode_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Bool(false) => out.push(T_FALSE),
        Value::Bool(true) => out.push(T_TRUE),
        Value::Int(i) => {
            out.push(T_INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Double(d) => {
            out.push(T_DOUBLE);
            out.extend_from_slice(&d.to_le_bytes());
        }
        Value::String(s) => {
            out.push(T_STRING);
            put_bytes(out, s.as_bytes());
        }
        Value::Binary(b) => {
            out.push(T_BINARY);
            put_bytes(out, b);
        }
        Value::Timestamp(t) => {
            out.push(T_TIMESTAMP);
            out.extend_from_slice(&t.0.to_le_bytes());
        }
        Value::ObjectId(o) => {
            out.push(T_OBJECTID);
            out.extend_from_slice(&o.0);
        }
        Value::Uuid(u) => {
            out.push(T_UUID);
            out.extend_from_slice(&u.0);
        }
        Value::Link(pk) => {
            out.push(T_LINK);
            put_bytes(out, &pk.to_key_bytes());
        }
        Value::TypedLink(class, pk) => {
            out.push(T_TYPED_LINK);
            put_bytes(out, class.as_bytes());
            put_bytes(out, &pk.to_key_bytes());
        }
    }
}

fn put_id(out: &mut Vec<u8>, id: ElemId) {
    out.extend_from_slice(&id.lamport.to_le_bytes());
    out.extend_from_slice(&id.peer.to_le_bytes());
}

fn encode_nested(out: &mut Vec<u8>, n: &Nested) {
    let item = |out: &mut Vec<u8>, item: &MixedItem| match item {
        MixedItem::Value(v) => encode_value(out, v),
        MixedItem::Nested(n) => encode_nested(out, n),
    };
    match n {
        Nested::List { id, list } => {
            out.push(T_NESTED_LIST);
            put_id(out, *id);
            out.extend_from_slice(&(list.elems.len() as u32).to_le_bytes());
            for e in &list.elems {
                put_id(out, e.id);
                out.push(e.erased as u8);
                item(out, &e.value);
            }
        }
        Nested::Dict { id, entries } => {
            out.push(T_NESTED_DICT);
            put_id(out, *id);
            out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
            for (k, v) in entries {
                put_bytes(out, k.as_bytes());
                item(out, v);
            }
        }
    }
}

pub fn encode_object(data: &ObjectData) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + data.fields.len() * 10);
    encode_fields(&mut out, data);
    out
}

fn put_elem_id(out: &mut Vec<u8>, id: ElemId) {
    out.extend_from_slice(&id.lamport.to_le_bytes());
    out.extend_from_slice(&id.peer.to_le_bytes());
}

/// A record's body: the u16 field count, then the tagged fields (embedded objects nest one).
fn encode_fields(out: &mut Vec<u8>, data: &ObjectData) {
    let out = &mut *out;
    out.extend_from_slice(&(data.fields.len() as u16).to_le_bytes());
    for f in &data.fields {
        match f {
            Field::Value(v) => encode_value(out, v),
            Field::List(l) => {
                out.push(T_LIST);
                out.extend_from_slice(&(l.elems.len() as u32).to_le_bytes());
                for e in &l.elems {
                    out.extend_from_slice(&e.id.lamport.to_le_bytes());
                    out.extend_from_slice(&e.id.peer.to_le_bytes());
                    out.push(e.erased as u8);
                    encode_value(out, &e.value);
                }
            }
            Field::Set(elements) => {
                out.push(T_SET);
                out.extend_from_slice(&(elements.len() as u32).to_le_bytes());
                for v in elements {
                    encode_value(out, v);
                }
            }
            Field::Dict(entries) => {
                out.push(T_DICT);
                out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
                for (k, v) in entries {
                    put_bytes(out, k.as_bytes());
                    encode_value(out, v);
                }
            }
            Field::Embedded(id, object) => {
                out.push(T_EMBEDDED);
                put_elem_id(out, *id);
                encode_fields(out, object);
            }
            Field::EmbeddedList(l) => {
                out.push(T_EMBEDDED_LIST);
                out.extend_from_slice(&(l.order.elems.len() as u32).to_le_bytes());
                for e in &l.order.elems {
                    put_elem_id(out, e.id);
                    match l.objects.get(&e.id).filter(|_| !e.erased) {
                        Some(object) => {
                            out.push(1);
                            encode_fields(out, object);
                        }
                        None => out.push(0),
                    }
                }
            }
            Field::Nested(n) => encode_nested(out, n),
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() < n {
            return Err(Error::FileCorrupt("truncated object record".into()));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn elem_id(&mut self) -> Result<ElemId> {
        Ok(ElemId { lamport: u64::from_le_bytes(self.arr()?), peer: u64::from_le_bytes(self.arr()?) })
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = u32::from_le_bytes(self.arr()?) as usize;
        self.take(n)
    }
    fn value_with_tag(&mut self, tag: u8) -> Result<Value> {
        let corrupt = |what: &str| Error::FileCorrupt(what.to_string());
        Ok(match tag {
            T_NULL => Value::Null,
            T_FALSE => Value::Bool(false),
            T_TRUE => Value::Bool(true),
            T_INT => Value::Int(i64::from_le_bytes(self.arr()?)),
            T_DOUBLE => Value::Double(f64::from_le_bytes(self.arr()?)),
            T_STRING => Value::String(String::from_utf8(self.bytes()?.to_vec()).map_err(|_| corrupt("invalid UTF-8 in a string"))?),
            T_BINARY => Value::Binary(self.bytes()?.to_vec()),
            T_TIMESTAMP => Value::Timestamp(Timestamp(i64::from_le_bytes(self.arr()?))),
            T_OBJECTID => Value::ObjectId(ObjectId(self.arr()?)),
            T_UUID => Value::Uuid(Uuid(self.arr()?)),
            T_LINK => Value::Link(PrimaryKey::from_key_bytes(self.bytes()?).ok_or_else(|| corrupt("bad link"))?),
            T_TYPED_LINK => {
                let class = String::from_utf8(self.bytes()?.to_vec()).map_err(|_| corrupt("invalid UTF-8 in a link's class"))?;
                Value::TypedLink(class, PrimaryKey::from_key_bytes(self.bytes()?).ok_or_else(|| corrupt("bad link"))?)
            }
            t => return Err(Error::FileCorrupt(format!("unknown value tag {t}"))),
        })
    }
    /// Moves past a value whose tag was read, checking it as `value_with_tag` would.
    fn check_value(&mut self, tag: u8) -> Result<()> {
        let corrupt = |what: &str| Error::FileCorrupt(what.to_string());
        match tag {
            T_NULL | T_FALSE | T_TRUE => {}
            T_INT | T_DOUBLE | T_TIMESTAMP => {
                self.take(8)?;
            }
            T_OBJECTID => {
                self.take(12)?;
            }
            T_UUID => {
                self.take(16)?;
            }
            T_STRING => {
                std::str::from_utf8(self.bytes()?).map_err(|_| corrupt("invalid UTF-8 in a string"))?;
            }
            T_BINARY => {
                self.bytes()?;
            }
            T_LINK => {
                if !PrimaryKey::is_key_bytes(self.bytes()?) {
                    return Err(corrupt("bad link"));
                }
            }
            T_TYPED_LINK => {
                std::str::from_utf8(self.bytes()?).map_err(|_| corrupt("invalid UTF-8 in a link's class"))?;
                if !PrimaryKey::is_key_bytes(self.bytes()?) {
                    return Err(corrupt("bad link"));
                }
            }
            t => return Err(Error::FileCorrupt(format!("unknown value tag {t}"))),
        }
        Ok(())
    }
    fn id(&mut self) -> Result<ElemId> {
        Ok(ElemId { lamport: u64::from_le_bytes(self.arr()?), peer: u64::from_le_bytes(self.arr()?) })
    }
    fn mixed_item(&mut self, depth: usize) -> Result<MixedItem> {
        let tag = self.u8()?;
        Ok(match tag {
            T_NESTED_LIST | T_NESTED_DICT => MixedItem::Nested(self.nested(tag, depth + 1)?),
            t => MixedItem::Value(self.value_with_tag(t)?),
        })
    }
    /// A nested collection of a mixed whose tag was read.
    fn nested(&mut self, tag: u8, depth: usize) -> Result<Nested> {
        if depth > MAX_DEPTH {
            return Err(Error::FileCorrupt("collections in a mixed nest too deep".into()));
        }
        let id = self.id()?;
        let count = u32::from_le_bytes(self.arr()?) as usize;
        if tag == T_NESTED_LIST {
            let mut elems = Vec::with_capacity(count.min(1 << 16));
            for _ in 0..count {
                let id = self.id()?;
                let erased = self.u8()? != 0;
                elems.push(Elem { id, value: self.mixed_item(depth)?, erased });
            }
            return Ok(Nested::List { id, list: RgaList { elems } });
        }
        let mut entries = BTreeMap::new();
        for _ in 0..count {
            let key =
                String::from_utf8(self.bytes()?.to_vec()).map_err(|_| Error::FileCorrupt("invalid UTF-8 in a dictionary key".into()))?;
            entries.insert(key, self.mixed_item(depth)?);
        }
        Ok(Nested::Dict { id, entries })
    }
}

pub fn decode_object(bytes: &[u8], class: &ClassSchema) -> Result<ObjectData> {
    let mut r = Reader { b: bytes };
    let mut fields = read_fields(&mut r, 0)?;
    for p in class.properties.iter().skip(fields.len()) {
        fields.push(default_field(p));
    }
    Ok(ObjectData { fields })
}

/// A record's body (see `encode_fields`). An embedded object's fields are not padded here (its
/// class is not at hand): `embedded` pads them when it reaches them.
/// `depth` counts the embedded objects around this body: beyond `embedded::MAX_DEPTH` the
/// record is corrupt (the rules never nest deeper), so a damaged record cannot exhaust the stack.
fn read_fields(r: &mut Reader, depth: usize) -> Result<Vec<Field>> {
    if depth > crate::embedded::MAX_DEPTH {
        return Err(Error::FileCorrupt("embedded objects nested too deep".into()));
    }
    let n = u16::from_le_bytes(r.arr()?) as usize;
    let mut fields = Vec::with_capacity(n);
    for _ in 0..n {
        fields.push(read_field(r, depth)?);
    }
    Ok(fields)
}

/// One field of a body (`depth` as for `read_fields`). Inlined: in `read_fields`'s loop a call
/// per field, returning the field by value, cost 10 % more instructions in decoding.
#[inline(always)]
fn read_field(r: &mut Reader, depth: usize) -> Result<Field> {
    let tag = r.u8()?;
    Ok(if tag == T_LIST {
        let count = u32::from_le_bytes(r.arr()?) as usize;
        let mut elems = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let lamport = u64::from_le_bytes(r.arr()?);
            let peer = u64::from_le_bytes(r.arr()?);
            let erased = r.u8()? != 0;
            let t = r.u8()?;
            let value = r.value_with_tag(t)?;
            elems.push(Elem { id: ElemId { lamport, peer }, value, erased });
        }
        Field::List(RgaList { elems })
    } else if tag == T_SET {
        let count = u32::from_le_bytes(r.arr()?) as usize;
        let mut elements = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let t = r.u8()?;
            elements.push(r.value_with_tag(t)?);
        }
        Field::Set(elements)
    } else if tag == T_DICT {
        let count = u32::from_le_bytes(r.arr()?) as usize;
        let mut entries = BTreeMap::new();
        for _ in 0..count {
            let key = String::from_utf8(r.bytes()?.to_vec()).map_err(|_| Error::FileCorrupt("invalid UTF-8 in a dictionary key".into()))?;
            let t = r.u8()?;
            entries.insert(key, r.value_with_tag(t)?);
        }
        Field::Dict(entries)
    } else if tag == T_NESTED_LIST || tag == T_NESTED_DICT {
        Field::Nested(r.nested(tag, 1)?)
    } else if tag == T_EMBEDDED {
        let id = r.elem_id()?;
        Field::Embedded(id, Box::new(ObjectData { fields: read_fields(r, depth + 1)? }))
    } else if tag == T_EMBEDDED_LIST {
        let count = u32::from_le_bytes(r.arr()?) as usize;
        let mut list = crate::embedded::EmbeddedList::default();
        for _ in 0..count {
            let id = r.elem_id()?;
            let live = r.u8()? != 0;
            list.order.elems.push(Elem { id, value: Value::Null, erased: !live });
            if live {
                list.objects.insert(id, ObjectData { fields: read_fields(r, depth + 1)? });
            }
        }
        Field::EmbeddedList(list)
    } else {
        Field::Value(r.value_with_tag(tag)?)
    })
}

// ---- records located, not decoded ----------------------------------------------------------
// The reset's diff compares a server record with the local one field by field: fields whose
// bytes are equal need no decoding (most of them, in most objects it rewrites), a new object
// whose class cannot link needs none at all. Only records whose fields are scalars, lists and
// sets are viewed so; the others are decoded whole.

/// Where each field of a record is, and the greatest lamport value of its list elements.
/// Reading it checks every value as decoding would (UTF-8, link keys), without allocating.
pub struct RecordView<'r> {
    record: &'r [u8],
    /// Where each field ends (a field starts where the previous one ends, the first after the
    /// u16 field count).
    ends: smallvec::SmallVec<[u32; 16]>,
    pub max_lamport: u64,
}

/// A link held in a record: the target's class name for a typed link (a mixed's), and the
/// target's primary key as key bytes.
pub type RawLink<'r> = (Option<&'r str>, &'r [u8]);

impl<'r> RecordView<'r> {
    /// None: the record has a dictionary, a mixed collection or an embedded object.
    pub fn of(record: &'r [u8]) -> Result<Option<Self>> {
        let mut r = Reader { b: record };
        let n = u16::from_le_bytes(r.arr()?) as usize;
        let mut view = RecordView { record, ends: smallvec::SmallVec::with_capacity(n), max_lamport: 0 };
        for _ in 0..n {
            match r.u8()? {
                T_LIST => {
                    for _ in 0..u32::from_le_bytes(r.arr()?) {
                        view.max_lamport = view.max_lamport.max(u64::from_le_bytes(r.arr()?));
                        r.take(9)?; // peer, erased
                        let t = r.u8()?;
                        r.check_value(t)?;
                    }
                }
                T_SET => {
                    for _ in 0..u32::from_le_bytes(r.arr()?) {
                        let t = r.u8()?;
                        r.check_value(t)?;
                    }
                }
                T_DICT | T_NESTED_LIST | T_NESTED_DICT | T_EMBEDDED | T_EMBEDDED_LIST => return Ok(None),
                t => r.check_value(t)?,
            }
            view.ends.push((record.len() - r.b.len()) as u32);
        }
        Ok(Some(view))
    }

    /// How many fields the record has.
    pub fn field_count(&self) -> usize {
        self.ends.len()
    }

    /// The bytes of field `i` (tag included).
    pub fn field(&self, i: usize) -> &'r [u8] {
        let start = if i == 0 { 2 } else { self.ends[i - 1] as usize };
        &self.record[start..self.ends[i] as usize]
    }

    pub fn decode_field(&self, i: usize) -> Result<Field> {
        read_field(&mut Reader { b: self.field(i) }, 0)
    }

    /// The links field `i` holds, as `Field::links` and `Field::typed_links` give them (the
    /// visible elements of a list).
    pub fn links(&self, i: usize, out: &mut smallvec::SmallVec<[RawLink<'r>; 8]>) -> Result<()> {
        let mut r = Reader { b: self.field(i) };
        let mut value = |r: &mut Reader<'r>, tag: u8, visible: bool| -> Result<()> {
            match tag {
                T_LINK if visible => out.push((None, r.bytes()?)),
                T_TYPED_LINK if visible => {
                    let class =
                        std::str::from_utf8(r.bytes()?).map_err(|_| Error::FileCorrupt("invalid UTF-8 in a link's class".into()))?;
                    out.push((Some(class), r.bytes()?));
                }
                t => r.check_value(t)?,
            }
            Ok(())
        };
        match r.u8()? {
            T_LIST => {
                for _ in 0..u32::from_le_bytes(r.arr()?) {
                    r.take(16)?;
                    let erased = r.u8()? != 0;
                    let t = r.u8()?;
                    value(&mut r, t, !erased)?;
                }
            }
            T_SET => {
                for _ in 0..u32::from_le_bytes(r.arr()?) {
                    let t = r.u8()?;
                    value(&mut r, t, true)?;
                }
            }
            t => value(&mut r, t, true)?,
        }
        Ok(())
    }
}

// ---- the file ------------------------------------------------------------------------------

/// The realm's writer connection reads the file through a memory map of its first 32 MiB
/// instead of a copy per page (file-backed and capped: not heap, and bounded whatever the
/// realm's size). A reset's transform reads the whole realm, and the commit deletes the old
/// history by walking its overflow pages; mapping the file for each transform and unmapping it
/// after cost 0.45 ms of a 22 ms reset, so the writer keeps its map.
pub const WRITER_MMAP: &str = "PRAGMA mmap_size = 33554432;";

/// Opens a connection with the pragmas every driftsync connection uses.
pub fn connect(path: &Path, busy_timeout: Duration) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = crate::wal_writes::open(path, flags).map_err(|e| Error::FileIo(format!("{}: {e}", path.display())))?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

/// Opens the realm's writer connection: `connect`, with the writer's lookaside
/// (`size_writer_lookaside`) set before it allocates anything.
pub fn connect_writer(path: &Path, busy_timeout: Duration) -> Result<Connection> {
    let conn = connect(path, busy_timeout)?;
    size_writer_lookaside(&conn)?;
    Ok(conn)
}

/// Gives the writer connection a larger lookaside (SQLite's per-connection pool of small
/// allocations): 100 slots of 1,200 bytes (120 KiB, split by SQLite into large and small slots)
/// instead of SQLite's 40 (48 KiB). A reset's transform binds batches of 64 rows, whose blobs
/// SQLite copies: with 40 slots most copies went to `malloc` (2.8 % of the transform's
/// instructions, 0.6–1 ms of a 26 ms reset). Must run before the connection allocates anything.
fn size_writer_lookaside(conn: &Connection) -> Result<()> {
    // SAFETY: a valid, open handle; the variadic arguments are the (buffer, slot size, slot
    // count) SQLITE_DBCONFIG_LOOKASIDE takes; a null buffer lets SQLite allocate the pool.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_config(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBCONFIG_LOOKASIDE,
            std::ptr::null_mut::<std::ffi::c_void>(),
            1200 as std::ffi::c_int,
            100 as std::ffi::c_int,
        )
    };
    match rc {
        rusqlite::ffi::SQLITE_OK => Ok(()),
        code => Err(Error::Internal(format!("sizing the writer's lookaside: SQLite code {code}"))),
    }
}

/// What `check_file` found.
pub enum FileState {
    /// An empty or new file: the tables must be created.
    Empty,
    /// An existing realm with its stored schema.
    Realm(Schema),
}

/// Whether a file starts with SQLite's magic header (then damage means corrupt, not foreign).
fn has_sqlite_header(path: &Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 16];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut buf)).is_ok() && &buf == b"SQLite format 3\0"
}

/// Checks, without writing anything, that `conn` is a realm this library can open.
pub fn check_file(conn: &Connection, path: &Path) -> Result<FileState> {
    // SQLite cannot read the file: damage if it starts like a SQLite database, else foreign.
    // (A readable SQLite database without our tables is foreign too: see below.)
    let map_open = |e: rusqlite::Error| match Error::from(e) {
        Error::FileNotRealm(_) if has_sqlite_header(path) => Error::FileCorrupt(format!("{}: damaged database header", path.display())),
        Error::FileNotRealm(_) => Error::FileNotRealm(path.display().to_string()),
        other => other,
    };
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(map_open)?;
    if tables == 0 {
        return Ok(FileState::Empty);
    }
    let has_meta: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='ds_meta'", [], |r| r.get(0)).map_err(map_open)?;
    if has_meta == 0 {
        return Err(Error::FileNotRealm(path.display().to_string()));
    }
    let version: Option<i64> = get_meta(conn, "format_version")?;
    let Some(version) = version else {
        return Err(Error::FileNotRealm(path.display().to_string()));
    };
    if version > FILE_FORMAT_VERSION {
        return Err(Error::FileFormatTooNew { found: version, supported: FILE_FORMAT_VERSION });
    }
    let json: Option<String> = get_meta(conn, "schema")?;
    let json = json.ok_or_else(|| Error::FileCorrupt("the stored schema is missing".into()))?;
    let schema = Schema::from_json(&json).map_err(|e| Error::FileCorrupt(format!("the stored schema is invalid: {e}")))?;
    Ok(FileState::Realm(schema))
}

/// Creates the tables of a new realm (inside the caller's transaction).
pub fn create_tables(conn: &Connection, schema: &Schema, peer_id: u64) -> Result<()> {
    conn.execute_batch(CREATE_TABLES)?;
    conn.execute_batch(CREATE_LOCAL_CREATIONS)?;
    set_meta(conn, "format_version", FILE_FORMAT_VERSION)?;
    set_meta(conn, "schema", schema.to_json())?;
    set_meta(conn, "peer_id", peer_id as i64)?;
    set_meta(conn, "lamport", 0i64)?;
    set_meta(conn, "local_version", 0i64)?;
    Ok(())
}

pub fn get_meta<T: rusqlite::types::FromSql>(conn: &Connection, key: &str) -> Result<Option<T>> {
    Ok(conn.prepare_cached("SELECT value FROM ds_meta WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?)
}

pub fn set_meta<T: rusqlite::ToSql>(conn: &Connection, key: &str, value: T) -> Result<()> {
    conn.prepare_cached("INSERT INTO ds_meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")?
        .execute(params![key, value])?;
    Ok(())
}

pub fn delete_meta(conn: &Connection, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM ds_meta WHERE key = ?1")?.execute([key])?;
    Ok(())
}

// ---- object hashes -------------------------------------------------------------------------
//
// Every object row carries `hash` = `reconcile::object_hash(pk, data)`, written with the record
// by every write (`put_record`), so a reset's range fingerprints scan hashes, not records. A
// file from before the column gets it when opened, every row hashed. A row written without a
// hash (NULL: what an older library's `INSERT OR REPLACE` of class, pk and data leaves) keeps
// none until it is written again: readers of hashes compute a missing one from the record, so a
// NULL is never taken for a value.
//
// No index lists the rows without a hash. Files had one (`ds_objects_unhashed`, partial, on
// `hash IS NULL`); even empty, a secondary index makes every `INSERT OR REPLACE` of an existing
// row a delete and an insert instead of one overwrite (1.5 ms more per 5,000 rewritten rows). A
// file that still has it gets its unhashed rows hashed through it and loses it when opened.

/// Whether `ds_objects` predates the `hash` column.
fn lacks_object_hashes(conn: &Connection) -> Result<bool> {
    let n: i64 = conn.query_row("SELECT count(*) FROM pragma_table_info('ds_objects') WHERE name = 'hash'", [], |r| r.get(0))?;
    Ok(n == 0)
}

/// Whether the file is from before `ds_local_creations` or its history index (opening adds them).
pub fn lacks_local_creations(conn: &Connection) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name IN ('ds_local_creations', 'ds_history_by_server_version')",
        [],
        |r| r.get(0),
    )?;
    Ok(n < 2)
}

/// Adds `ds_local_creations` and its history index to a file from before them (inside the
/// caller's write transaction).
pub fn add_local_creations(conn: &Connection) -> Result<()> {
    conn.execute_batch(CREATE_LOCAL_CREATIONS)?;
    Ok(())
}

/// The partial index of rows without a hash that files had before (see above).
const UNHASHED_INDEX: &str = "ds_objects_unhashed";

fn has_unhashed_index(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1", [UNHASHED_INDEX], |_| Ok(())).optional()?.is_some())
}

/// Whether opening must write to bring the object hashes up to date: the column is missing, or
/// the file still has the index of unhashed rows.
pub fn object_hashes_need_work(conn: &Connection) -> Result<bool> {
    Ok(lacks_object_hashes(conn)? || has_unhashed_index(conn)?)
}

/// Brings the object hashes up to date (inside the caller's write transaction): adds the column
/// to a file from before it and hashes every row; or hashes the rows the old index of unhashed
/// rows lists, then drops it.
pub fn bring_object_hashes_up_to_date(conn: &Connection) -> Result<()> {
    if lacks_object_hashes(conn)? {
        conn.execute_batch("ALTER TABLE ds_objects ADD COLUMN hash INTEGER;")?;
    }
    fill_missing_hashes(conn)?;
    conn.execute_batch(&format!("DROP INDEX IF EXISTS {UNHASHED_INDEX};"))?;
    Ok(())
}

/// Stores the hash of every object that has none.
fn fill_missing_hashes(conn: &Connection) -> Result<()> {
    let mut missing = Vec::new();
    {
        let mut stmt = conn.prepare("SELECT class, pk, data FROM ds_objects WHERE hash IS NULL")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (class, key, data): (i64, Vec<u8>, Vec<u8>) = (r.get(0)?, r.get(1)?, r.get(2)?);
            missing.push((class, crate::reconcile::object_hash(&key, &data) as i64, key));
        }
    }
    let mut update = conn.prepare("UPDATE ds_objects SET hash = ?1 WHERE class = ?2 AND pk = ?3")?;
    for (class, hash, key) in missing {
        update.execute(params![hash, class, key])?;
    }
    Ok(())
}

/// The one statement that writes an object row: the record and its hash together.
pub const PUT_RECORD_SQL: &str = "INSERT OR REPLACE INTO ds_objects(class, pk, data, hash) VALUES(?1, ?2, ?3, ?4)";

/// Writes an object's record bytes (and their hash), replacing any previous row.
pub fn put_record(conn: &Connection, class_idx: usize, key: &[u8], record: &[u8]) -> Result<()> {
    conn.prepare_cached(PUT_RECORD_SQL)?.execute(params![class_idx as i64, key, record, record_hash(key, record)])?;
    Ok(())
}

/// The stored form of an object's hash.
pub fn record_hash(key: &[u8], record: &[u8]) -> i64 {
    crate::reconcile::object_hash(key, record) as i64
}

// ---- objects -------------------------------------------------------------------------------

pub fn load_object(conn: &Connection, class_idx: usize, class: &ClassSchema, pk: &PrimaryKey) -> Result<Option<ObjectData>> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT data FROM ds_objects WHERE class = ?1 AND pk = ?2")?
        .query_row(params![class_idx as i64, pk.to_key_bytes()], |r| r.get(0))
        .optional()?;
    bytes.map(|b| decode_object(&b, class)).transpose()
}

/// The stored record of an object, undecoded.
pub fn load_raw(conn: &Connection, class_idx: usize, pk: &PrimaryKey) -> Result<Option<Vec<u8>>> {
    load_raw_key(conn, class_idx, &pk.to_key_bytes())
}

/// The stored record of an object by its key bytes, undecoded.
pub fn load_raw_key(conn: &Connection, class_idx: usize, key: &[u8]) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT data FROM ds_objects WHERE class = ?1 AND pk = ?2")?
        .query_row(params![class_idx as i64, key], |r| r.get(0))
        .optional()?)
}

pub fn object_exists(conn: &Connection, class_idx: usize, pk: &PrimaryKey) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM ds_objects WHERE class = ?1 AND pk = ?2")?
        .query_row(params![class_idx as i64, pk.to_key_bytes()], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn save_object(conn: &Connection, class_idx: usize, pk: &PrimaryKey, data: &ObjectData) -> Result<()> {
    put_record(conn, class_idx, &pk.to_key_bytes(), &encode_object(data))
}

/// Inserts an object that must not exist yet; false (and nothing written) if it does.
pub fn insert_new_object(conn: &Connection, class_idx: usize, pk: &PrimaryKey, data: &ObjectData) -> Result<bool> {
    let (key, record) = (pk.to_key_bytes(), encode_object(data));
    let r = conn.prepare_cached("INSERT INTO ds_objects(class, pk, data, hash) VALUES(?1, ?2, ?3, ?4)")?.execute(params![
        class_idx as i64,
        key,
        record,
        record_hash(&key, &record)
    ]);
    match r {
        Ok(_) => Ok(true),
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ffi::ErrorCode::ConstraintViolation => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn delete_object(conn: &Connection, class_idx: usize, pk: &PrimaryKey) -> Result<()> {
    let key = pk.to_key_bytes();
    conn.prepare_cached("DELETE FROM ds_objects WHERE class = ?1 AND pk = ?2")?.execute(params![class_idx as i64, key])?;
    conn.prepare_cached("DELETE FROM ds_backlinks WHERE sclass = ?1 AND spk = ?2")?.execute(params![class_idx as i64, key])?;
    Ok(())
}

pub fn count_objects(conn: &Connection, class_idx: usize) -> Result<u64> {
    let n: i64 = conn.prepare_cached("SELECT count(*) FROM ds_objects WHERE class = ?1")?.query_row([class_idx as i64], |r| r.get(0))?;
    Ok(n as u64)
}

/// Whether a class has at least one object (without counting them all).
pub fn class_has_objects(conn: &Connection, class_idx: usize) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM ds_objects WHERE class = ?1 LIMIT 1")?
        .query_row([class_idx as i64], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Streams the objects of a class in primary-key order, starting after `after`. The callback
/// returns false to stop. Memory does not grow with the number of objects.
pub fn scan_objects(
    conn: &Connection,
    class_idx: usize,
    class: &ClassSchema,
    after: Option<&PrimaryKey>,
    mut f: impl FnMut(PrimaryKey, ObjectData) -> Result<bool>,
) -> Result<()> {
    let (sql, lower) = match after {
        Some(pk) => ("SELECT pk, data FROM ds_objects WHERE class = ?1 AND pk > ?2 ORDER BY pk", pk.to_key_bytes()),
        None => ("SELECT pk, data FROM ds_objects WHERE class = ?1 AND pk >= ?2 ORDER BY pk", Vec::new()),
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![class_idx as i64, lower])?;
    while let Some(row) = rows.next()? {
        let key = row.get_ref(0)?.as_blob().map_err(|_| Error::FileCorrupt("primary key is not a blob".into()))?;
        let pk = PrimaryKey::from_key_bytes(key).ok_or_else(|| Error::FileCorrupt("undecodable primary key".into()))?;
        let data = row.get_ref(1)?.as_blob().map_err(|_| Error::FileCorrupt("object data is not a blob".into()))?;
        let obj = decode_object(data, class)?;
        if !f(pk, obj)? {
            break;
        }
    }
    Ok(())
}

/// Streams raw records (key bytes, record bytes) of a class in primary-key order after `after`
/// (key bytes; empty: from the start), without decoding them.
pub fn scan_raw(conn: &Connection, class_idx: usize, after: &[u8], f: impl FnMut(&[u8], &[u8]) -> Result<bool>) -> Result<()> {
    scan_raw_where(conn, "SELECT pk, data FROM ds_objects WHERE class = ?1 AND pk > ?2 ORDER BY pk", class_idx, after, f)
}

/// Like `scan_raw`, from the object whose key is `first` (included) on.
pub fn scan_raw_from(conn: &Connection, class_idx: usize, first: &[u8], f: impl FnMut(&[u8], &[u8]) -> Result<bool>) -> Result<()> {
    scan_raw_where(conn, "SELECT pk, data FROM ds_objects WHERE class = ?1 AND pk >= ?2 ORDER BY pk", class_idx, first, f)
}

fn scan_raw_where(
    conn: &Connection,
    sql: &str,
    class_idx: usize,
    bound: &[u8],
    mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![class_idx as i64, bound])?;
    while let Some(row) = rows.next()? {
        let key = row.get_ref(0)?.as_blob().map_err(|_| Error::FileCorrupt("primary key is not a blob".into()))?;
        let data = row.get_ref(1)?.as_blob().map_err(|_| Error::FileCorrupt("object data is not a blob".into()))?;
        if !f(key, data)? {
            break;
        }
    }
    Ok(())
}

pub fn add_backlink(conn: &Connection, tclass: usize, tpk: &PrimaryKey, sclass: usize, spk: &PrimaryKey) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO ds_backlinks(tclass, tpk, sclass, spk) VALUES(?1, ?2, ?3, ?4)")?.execute(params![
        tclass as i64,
        tpk.to_key_bytes(),
        sclass as i64,
        spk.to_key_bytes()
    ])?;
    Ok(())
}

/// The objects that (may) link to the target; entries can be stale, callers re-check.
pub fn take_backlinks(conn: &Connection, tclass: usize, tpk: &PrimaryKey) -> Result<Vec<(usize, PrimaryKey)>> {
    let key = tpk.to_key_bytes();
    let mut out = Vec::new();
    {
        let mut stmt = conn.prepare_cached("SELECT sclass, spk FROM ds_backlinks WHERE tclass = ?1 AND tpk = ?2")?;
        let mut rows = stmt.query(params![tclass as i64, key])?;
        while let Some(row) = rows.next()? {
            let sclass: i64 = row.get(0)?;
            let spk: Vec<u8> = row.get(1)?;
            let pk = PrimaryKey::from_key_bytes(&spk).ok_or_else(|| Error::FileCorrupt("undecodable backlink".into()))?;
            out.push((sclass as usize, pk));
        }
    }
    conn.prepare_cached("DELETE FROM ds_backlinks WHERE tclass = ?1 AND tpk = ?2")?.execute(params![tclass as i64, key])?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_encoding_round_trips_and_pads_added_properties() {
        let class = ClassSchema::new(
            "A",
            "id",
            vec![Property::new("id", ScalarType::Int), Property::new("s", ScalarType::String), Property::new("l", ScalarType::Int).list()],
        );
        let mut l = RgaList::default();
        l.integrate_insert(ElemId { lamport: 1, peer: 7 }, None, Value::Int(3));
        let data = ObjectData { fields: vec![Field::Value(Value::Int(1)), Field::Value(Value::String("x".into())), Field::List(l)] };
        let bytes = encode_object(&data);
        assert_eq!(decode_object(&bytes, &class).unwrap(), data);
        let mut wider = class.clone();
        wider.properties.push(Property::new("o", ScalarType::Double).optional());
        let wide = ClassSchema::new("A", "id", wider.properties);
        let got = decode_object(&bytes, &wide).unwrap();
        assert_eq!(got.fields[3], Field::Value(Value::Null));
        assert!(decode_object(&bytes[..bytes.len() - 3], &class).is_err());
    }

    /// The writer's lookaside is sized while the connection has allocated nothing; once
    /// statements hold lookaside memory SQLite refuses to resize it, and the error says so.
    #[test]
    fn the_writer_lookaside_is_sized_before_the_connection_allocates() {
        let dir = tempfile::tempdir().unwrap();
        let conn = connect(&dir.path().join("w.realm"), Duration::from_secs(1)).unwrap();
        size_writer_lookaside(&conn).expect("a new connection takes the larger lookaside");
        conn.execute_batch("CREATE TABLE t(x BLOB); INSERT INTO t VALUES(x'0102');").unwrap();
        let mut held = conn.prepare("SELECT x FROM t").unwrap();
        let mut rows = held.query([]).unwrap();
        assert!(rows.next().unwrap().is_some());
        let err = size_writer_lookaside(&conn).expect_err("lookaside in use");
        assert!(err.to_string().contains("lookaside"), "{err}");
    }

    /// A record of scalars, lists (with tombstones) and sets, viewed: each field's bytes decode
    /// to the field `decode_object` reads, its links are those `Field::links` and
    /// `Field::typed_links` give, and its greatest lamport is the record's.
    #[test]
    fn a_record_view_locates_each_field_as_decoding_reads_it() {
        let class = ClassSchema::new(
            "B",
            "id",
            vec![
                Property::new("id", ScalarType::String),
                Property::link("link", "A"),
                Property::link_list("links", "A"),
                Property::link_set("tags", "A"),
                Property::mixed("m"),
                Property::new("vals", ScalarType::Double).list(),
                Property::new("o", ScalarType::ObjectId).optional(),
            ],
        );
        let link = |i: i64| Value::Link(PrimaryKey::Int(i));
        let mut links = RgaList::default();
        for (n, i) in [4, 9, 4, 1].into_iter().enumerate() {
            links.integrate_insert(ElemId { lamport: 10 + n as u64, peer: 2 }, None, link(i));
        }
        links.erase(ElemId { lamport: 11, peer: 2 });
        let mut tags = Vec::new();
        for i in [3, 1, 7] {
            set_insert(&mut tags, link(i));
        }
        let mut vals = RgaList::default();
        vals.integrate_insert(ElemId { lamport: 42, peer: 9 }, None, Value::Double(0.5));
        let data = ObjectData {
            fields: vec![
                Field::Value(Value::String("ü-1".into())),
                Field::Value(link(2)),
                Field::List(links),
                Field::Set(tags),
                Field::Value(Value::TypedLink("A".into(), PrimaryKey::String("k".into()))),
                Field::List(vals),
                Field::Value(Value::Null),
            ],
        };
        let bytes = encode_object(&data);
        assert_eq!(decode_object(&bytes, &class).unwrap(), data);
        let view = RecordView::of(&bytes).unwrap().expect("viewable");
        assert_eq!(view.field_count(), data.fields.len());
        assert_eq!(view.max_lamport, 42);
        for (i, field) in data.fields.iter().enumerate() {
            assert_eq!(&view.decode_field(i).unwrap(), field, "field {i}");
            let mut got = smallvec::SmallVec::new();
            view.links(i, &mut got).unwrap();
            let links: Vec<Vec<u8>> = got.iter().filter(|l| l.0.is_none()).map(|l| l.1.to_vec()).collect();
            assert_eq!(links, field.links().iter().map(|k| k.to_key_bytes()).collect::<Vec<_>>(), "links of field {i}");
            let typed: Vec<(&str, Vec<u8>)> = got.iter().filter_map(|l| l.0.map(|c| (c, l.1.to_vec()))).collect();
            let want: Vec<(&str, Vec<u8>)> = field.typed_links().into_iter().map(|(c, k)| (c, k.to_key_bytes())).collect();
            assert_eq!(typed, want, "typed links of field {i}");
        }
        // Fields must be told apart exactly: the view of a record differing in one field
        // differs there only.
        let mut other = data.clone();
        other.fields[3] = Field::Set(vec![link(3)]);
        let other_bytes = encode_object(&other);
        let other_view = RecordView::of(&other_bytes).unwrap().expect("viewable");
        let differing: Vec<usize> = (0..view.field_count()).filter(|&i| view.field(i) != other_view.field(i)).collect();
        assert_eq!(differing, vec![3]);
    }

    /// What the view cannot compare field by field is not viewed, and what decoding rejects the
    /// view rejects too.
    #[test]
    fn a_record_view_declines_collections_it_cannot_compare_and_rejects_damage() {
        let dict =
            ObjectData { fields: vec![Field::Value(Value::Int(1)), Field::Dict(BTreeMap::from([("k".to_string(), Value::Int(2))]))] };
        assert!(RecordView::of(&encode_object(&dict)).unwrap().is_none());
        let string = ObjectData { fields: vec![Field::Value(Value::Int(1)), Field::Value(Value::String("abc".into()))] };
        let bytes = encode_object(&string);
        let class = ClassSchema::new("S", "id", vec![Property::new("id", ScalarType::Int), Property::new("s", ScalarType::String)]);
        let mut bad_utf8 = bytes.clone();
        *bad_utf8.last_mut().unwrap() = 0xff;
        assert!(decode_object(&bad_utf8, &class).is_err());
        assert!(matches!(RecordView::of(&bad_utf8), Err(Error::FileCorrupt(_))));
        assert!(matches!(RecordView::of(&bytes[..bytes.len() - 1]), Err(Error::FileCorrupt(_))));
        let link = ObjectData { fields: vec![Field::Value(Value::Int(1)), Field::Value(Value::Link(PrimaryKey::Int(5)))] };
        let mut bad_link = encode_object(&link);
        let at = bad_link.len() - 9;
        bad_link[at] = 7; // no such key kind
        assert!(matches!(RecordView::of(&bad_link), Err(Error::FileCorrupt(_))));
        let mut unknown_tag = bytes;
        unknown_tag[2 + 9] = 99; // the second field's tag
        assert!(matches!(RecordView::of(&unknown_tag), Err(Error::FileCorrupt(_))));
    }

    #[test]
    fn embedded_objects_round_trip_inside_their_parent_record() {
        let class = ClassSchema::new(
            "P",
            "id",
            vec![Property::new("id", ScalarType::Int), Property::link("e", "E"), Property::link_list("l", "E")],
        );
        let id = |l| ElemId { lamport: l, peer: 2 };
        let inner =
            ObjectData { fields: vec![Field::Value(Value::Int(5)), Field::Embedded(id(1), Box::new(ObjectData { fields: vec![] }))] };
        let mut list = crate::embedded::EmbeddedList::default();
        list.order.integrate_insert(id(2), None, Value::Null);
        list.objects.insert(id(2), inner.clone());
        list.order.integrate_insert(id(3), Some(id(2)), Value::Null);
        list.order.erase(id(3));
        let data = ObjectData {
            fields: vec![Field::Value(Value::Int(1)), Field::Embedded(id(4), Box::new(inner)), Field::EmbeddedList(list.clone())],
        };
        let bytes = encode_object(&data);
        let back = decode_object(&bytes, &class).unwrap();
        assert_eq!(back, data, "objects, ids and the tombstone survive");
        assert_eq!(back.fields[2], Field::EmbeddedList(list));
        assert_eq!(back.fields.iter().map(Field::max_lamport).max(), Some(4));
        assert!(decode_object(&bytes[..bytes.len() - 1], &class).is_err());
    }

    #[test]
    fn embedded_records_nested_deeper_than_the_rules_allow_are_corrupt() {
        let class = ClassSchema::new("P", "id", vec![Property::new("id", ScalarType::Int), Property::link("e", "E")]);
        let nest = |levels: usize| {
            let mut inner = ObjectData { fields: vec![Field::Value(Value::Int(1))] };
            for l in 0..levels {
                inner = ObjectData { fields: vec![Field::Embedded(ElemId { lamport: l as u64, peer: 1 }, Box::new(inner))] };
            }
            ObjectData { fields: vec![Field::Value(Value::Int(1)), inner.fields.remove(0)] }
        };
        let deepest = encode_object(&nest(crate::embedded::MAX_DEPTH));
        assert!(decode_object(&deepest, &class).is_ok());
        let too_deep = encode_object(&nest(crate::embedded::MAX_DEPTH + 1));
        assert!(matches!(decode_object(&too_deep, &class), Err(Error::FileCorrupt(_))));
    }
}
