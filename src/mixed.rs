//! The `mixed` kind (issue 15): a property that holds null, any scalar, a typed link (class +
//! primary key), or a nested list or dictionary whose elements are mixed values again.
//!
//! Nested collections have an identity: the instruction that creates one gives it a fresh
//! `ElemId`. An operation inside a nested collection names the path from the property to it
//! (dictionary keys and list element ids) plus that identity (`NestedRef`). If the collection
//! was replaced meanwhile (the property or the slot was set to another value, or to another
//! collection, possibly by another client), the path no longer leads to a collection with that
//! identity and the rule drops the operation with a reason, in sync and in reset recovery alike.
//!
//! Only a single `mixed` property holds nested collections; lists, sets and dictionaries of
//! `mixed` hold scalars and typed links (a set's elements must be hashable).

use crate::changeset::{ElemId, Instruction};
use crate::error::{Error, Result};
use crate::list::RgaList;
use crate::realm::Realm;
use crate::rules::{self, Mode, Outcome, Tx};
use crate::store::{self, Field};
use crate::value::{PrimaryKey, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How deep collections may nest in one mixed: deeper creations are refused, deeper records
/// are corrupt (decoding is recursive).
pub const MAX_DEPTH: usize = 100;

/// One slot of a mixed value as stored: a value, or a nested collection.
#[derive(Debug, Clone, PartialEq)]
pub enum MixedItem {
    Value(Value),
    Nested(Nested),
}

impl Default for MixedItem {
    /// Null: what an erased element of a nested list keeps.
    fn default() -> Self {
        MixedItem::Value(Value::Null)
    }
}

/// A nested collection as stored, with the identity it was created with.
#[derive(Debug, Clone, PartialEq)]
pub enum Nested {
    List { id: ElemId, list: RgaList<MixedItem> },
    Dict { id: ElemId, entries: BTreeMap<String, MixedItem> },
}

/// A mixed value as read: its nested collections without ids and tombstones.
#[derive(Debug, Clone, PartialEq)]
pub enum Mixed {
    Value(Value),
    List(Vec<Mixed>),
    /// Entries in key order.
    Dict(Vec<(String, Mixed)>),
}

/// One step of a path inside a mixed, as an instruction records it: a list element by its
/// stable id, or a dictionary key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PathStep {
    Elem(ElemId),
    Key(String),
}

/// A nested collection named in an instruction: the steps from the property's value to it and
/// the identity it was created with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NestedRef {
    pub path: Vec<PathStep>,
    pub id: ElemId,
}

/// What an instruction puts into a mixed slot: a value, or a new empty collection with `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MixedInit {
    Value(Value),
    List(ElemId),
    Dict(ElemId),
}

/// One step of a path as the app gives it: a list index or a dictionary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixedKey {
    Index(usize),
    Key(String),
}

impl From<usize> for MixedKey {
    fn from(i: usize) -> Self {
        MixedKey::Index(i)
    }
}
impl From<&str> for MixedKey {
    fn from(k: &str) -> Self {
        MixedKey::Key(k.to_string())
    }
}

/// What the app puts into a mixed slot: a value, or a new empty list or dictionary.
#[derive(Debug, Clone, PartialEq)]
pub enum MixedInput {
    Value(Value),
    List,
    Dictionary,
}

macro_rules! mixed_input_from {
    ($($t:ty),*) => {$(
        impl From<$t> for MixedInput {
            fn from(v: $t) -> Self {
                MixedInput::Value(v.into())
            }
        }
    )*};
}
mixed_input_from!(Value, i64, f64, bool, &str, String);

impl Nested {
    pub fn id(&self) -> ElemId {
        match self {
            Nested::List { id, .. } | Nested::Dict { id, .. } => *id,
        }
    }

    fn new(init: &MixedInit) -> Option<Nested> {
        match init {
            MixedInit::Value(_) => None,
            MixedInit::List(id) => Some(Nested::List { id: *id, list: RgaList::default() }),
            MixedInit::Dict(id) => Some(Nested::Dict { id: *id, entries: BTreeMap::new() }),
        }
    }

    /// The greatest lamport value of this collection's id and of every id inside it.
    pub fn max_lamport(&self) -> u64 {
        let inner = |item: &MixedItem| match item {
            MixedItem::Nested(n) => n.max_lamport(),
            MixedItem::Value(_) => 0,
        };
        match self {
            Nested::List { id, list } => list.elems.iter().map(|e| e.id.lamport.max(inner(&e.value))).fold(id.lamport, u64::max),
            Nested::Dict { id, entries } => entries.values().map(inner).fold(id.lamport, u64::max),
        }
    }

    /// The typed links held anywhere inside.
    pub fn typed_links(&self) -> Vec<(&str, &PrimaryKey)> {
        let items: Vec<&MixedItem> = match self {
            Nested::List { list, .. } => list.visible().map(|e| &e.value).collect(),
            Nested::Dict { entries, .. } => entries.values().collect(),
        };
        items
            .into_iter()
            .flat_map(|item| match item {
                MixedItem::Value(v) => v.as_typed_link().into_iter().collect(),
                MixedItem::Nested(n) => n.typed_links(),
            })
            .collect()
    }

    /// Rule 6 inside a mixed: every typed link to `class[pk]` becomes null. True if any did.
    pub fn null_links_to(&mut self, class: &str, pk: &PrimaryKey) -> bool {
        let hit = |item: &mut MixedItem| match item {
            MixedItem::Value(v) if v.as_typed_link() == Some((class, pk)) => {
                *v = Value::Null;
                true
            }
            MixedItem::Value(_) => false,
            MixedItem::Nested(n) => n.null_links_to(class, pk),
        };
        match self {
            Nested::List { list, .. } => list.elems.iter_mut().filter(|e| !e.erased).map(|e| hit(&mut e.value)).fold(false, |a, b| a | b),
            Nested::Dict { entries, .. } => entries.values_mut().map(hit).fold(false, |a, b| a | b),
        }
    }

    /// The collection as read.
    pub fn to_mixed(&self) -> Mixed {
        match self {
            Nested::List { list, .. } => Mixed::List(list.visible().map(|e| e.value.to_mixed()).collect()),
            Nested::Dict { entries, .. } => Mixed::Dict(entries.iter().map(|(k, v)| (k.clone(), v.to_mixed())).collect()),
        }
    }

    /// The collection an instruction names, if the path still leads to one with its identity.
    fn find_mut(&mut self, r: &NestedRef) -> Option<&mut Nested> {
        let mut cur = self;
        for step in &r.path {
            let item = match (cur, step) {
                (Nested::List { list, .. }, PathStep::Elem(id)) => {
                    list.elems.iter_mut().find(|e| e.id == *id && !e.erased).map(|e| &mut e.value)
                }
                (Nested::Dict { entries, .. }, PathStep::Key(k)) => entries.get_mut(k),
                _ => None,
            };
            match item {
                Some(MixedItem::Nested(n)) => cur = n,
                _ => return None,
            }
        }
        (cur.id() == r.id).then_some(cur)
    }
}

impl MixedItem {
    pub fn to_mixed(&self) -> Mixed {
        match self {
            MixedItem::Value(v) => Mixed::Value(v.clone()),
            MixedItem::Nested(n) => n.to_mixed(),
        }
    }

    fn from_init(init: &MixedInit) -> MixedItem {
        match (Nested::new(init), init) {
            (Some(n), _) => MixedItem::Nested(n),
            (None, MixedInit::Value(v)) => MixedItem::Value(v.clone()),
            (None, _) => MixedItem::default(),
        }
    }

    /// Whether this slot already holds what `init` would put there (a re-applied instruction).
    fn holds(&self, init: &MixedInit) -> bool {
        match (self, init) {
            (MixedItem::Value(a), MixedInit::Value(b)) => a.same_as(b),
            (MixedItem::Nested(n), MixedInit::List(id) | MixedInit::Dict(id)) => n.id() == *id,
            _ => false,
        }
    }
}

impl Mixed {
    /// The scalar, if this is one.
    pub fn as_value(&self) -> Option<&Value> {
        match self {
            Mixed::Value(v) => Some(v),
            _ => None,
        }
    }

    /// What is at `path` below this value, if anything.
    pub fn at(&self, path: &[MixedKey]) -> Option<&Mixed> {
        let mut cur = self;
        for step in path {
            cur = match (cur, step) {
                (Mixed::List(l), MixedKey::Index(i)) => l.get(*i)?,
                (Mixed::Dict(d), MixedKey::Key(k)) => d.iter().find(|(dk, _)| dk == k).map(|(_, v)| v)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

/// A single mixed field as read.
pub fn field_to_mixed(f: &Field) -> Mixed {
    match f {
        Field::Nested(n) => n.to_mixed(),
        Field::Value(v) => Mixed::Value(v.clone()),
        _ => Mixed::Value(Value::Null),
    }
}

/// Rule 6 for every kind of `mixed` field: a typed link to `class[pk]` becomes null (it leaves
/// a set of mixed). True if the field changed.
pub fn null_typed_links(field: &mut Field, class: &str, pk: &PrimaryKey) -> bool {
    let target = |v: &Value| v.as_typed_link() == Some((class, pk));
    let mut hit = false;
    let mut null = |v: &mut Value| {
        if target(v) {
            *v = Value::Null;
            hit = true;
        }
    };
    match field {
        Field::Value(v) => null(v),
        Field::List(l) => l.elems.iter_mut().filter(|e| !e.erased).for_each(|e| null(&mut e.value)),
        Field::Dict(d) => d.values_mut().for_each(null),
        Field::Set(s) => {
            let before = s.len();
            s.retain(|v| !target(v));
            hit = s.len() != before;
        }
        Field::Nested(n) => hit = n.null_links_to(class, pk),
        // Embedded objects hold no links (see `embedded::validate_embedded_class`).
        Field::Embedded(..) | Field::EmbeddedList(_) => {}
    }
    hit
}

/// The value an init puts in, for type checks.
fn init_value(init: &MixedInit) -> Option<&Value> {
    match init {
        MixedInit::Value(v) => Some(v),
        _ => None,
    }
}

// ---- the rules --------------------------------------------------------------------------------

/// The single mixed property an instruction names, after the checks every mixed operation
/// starts with: class, key, a single mixed property, and a value it accepts.
fn mixed_property<'s>(
    schema: &'s crate::schema::Schema,
    class: &str,
    pk: &PrimaryKey,
    prop: &str,
    init: Option<&MixedInit>,
    mode: Mode,
) -> Result<std::result::Result<rules::CollectionTarget<'s>, Outcome>> {
    let (ci, c) = schema.class(class)?;
    c.check_pk(pk)?;
    let (pi, p) = match c.property(prop) {
        Ok(x) => x,
        Err(e) => return rules::drop_or_err(mode, e, format!("unknown property '{class}.{prop}'")).map(Err),
    };
    if !p.is_single_mixed() {
        let why = if p.set && p.kind == crate::ScalarType::Mixed {
            format!("'{class}.{prop}' is a set of mixed: its elements must be hashable, so it cannot hold a nested list or dictionary")
        } else if p.kind == crate::ScalarType::Mixed {
            format!("'{class}.{prop}' is a list or dictionary of mixed: only a single mixed property holds nested collections")
        } else {
            format!("'{class}.{prop}' is not a mixed property")
        };
        return rules::drop_or_err(mode, Error::TypeMismatch(why.clone()), why).map(Err);
    }
    if let Some(v) = init.and_then(init_value).filter(|v| !p.accepts(v)) {
        let why = format!("mixed '{class}.{prop}' cannot hold an untyped link (use Value::TypedLink), got {v}");
        return rules::drop_or_err(mode, Error::TypeMismatch(why.clone()), why).map(Err);
    }
    Ok(Ok((ci, c, pi, p)))
}

/// Checks a typed link's target: rule 6, a link to a missing object is stored as null (and
/// the outcome says so); locally it is an error.
fn checked_init(tx: &mut Tx, init: &MixedInit, mode: Mode, what: &str) -> Result<(MixedInit, Option<String>)> {
    let Some((tclass, tpk)) = init_value(init).and_then(Value::as_typed_link) else { return Ok((init.clone(), None)) };
    if rules::typed_link_target_exists(tx, tclass, tpk)? {
        return Ok((init.clone(), None));
    }
    if mode == Mode::Local {
        return Err(Error::not_found(tclass, tpk));
    }
    Ok((MixedInit::Value(Value::Null), Some(format!("link target was erased, so {what} stayed null"))))
}

/// Applies a mixed instruction (`MixedSet`, `NestedInsert`, `NestedSet`, `NestedErase`).
pub(crate) fn apply(tx: &mut Tx, ins: &Instruction, mode: Mode) -> Result<Outcome> {
    use Instruction::*;
    let (class, pk, prop, init) = match ins {
        MixedSet { class, pk, prop, value } => (class, pk, prop, Some(value)),
        NestedInsert { class, pk, prop, value, .. } | NestedSet { class, pk, prop, value, .. } => (class, pk, prop, Some(value)),
        NestedErase { class, pk, prop, .. } => (class, pk, prop, None),
        other => return Err(Error::Internal(format!("not a mixed instruction: {}", other.describe()))),
    };
    let schema = tx.schema.clone();
    let (ci, c, pi, _) = match mixed_property(&schema, class, pk, prop, init, mode)? {
        Ok(x) => x,
        Err(outcome) => return Ok(outcome),
    };
    // A collection created inside the one `path` names sits at depth path + 2 (the property's
    // own collection is at depth 1); records deeper than MAX_DEPTH do not decode.
    let depth = match ins {
        NestedInsert { list: r, .. } | NestedSet { container: r, .. } => r.path.len() + 2,
        _ => 1,
    };
    if depth > MAX_DEPTH && matches!(init, Some(MixedInit::List(_) | MixedInit::Dict(_))) {
        let why = format!("collections in a mixed nest at most {MAX_DEPTH} deep");
        return rules::drop_or_err(mode, Error::InvalidArgument(why.clone()), why);
    }
    let (init, adjusted) = match init {
        Some(i) => {
            let (i, why) = checked_init(tx, i, mode, prop)?;
            (Some(i), why)
        }
        None => (None, None),
    };
    let Some(mut data) = tx.load_object(ci, c, pk)? else {
        return match mode {
            Mode::Local => Err(Error::not_found(class, pk)),
            Mode::Merge => Ok(Outcome::Dropped(format!("{class}[{pk}] was erased"))),
        };
    };
    let field = &mut data.fields[pi];
    let outcome = match (ins, init.as_ref()) {
        (MixedSet { .. }, Some(init)) => set_whole(field, init),
        (NestedInsert { list, id, after, .. }, Some(init)) => in_nested(field, list, mode, |n| insert(n, *id, *after, init))?,
        (NestedSet { container, at, .. }, Some(init)) => in_nested(field, container, mode, |n| set_slot(n, at, init))?,
        (NestedErase { container, at, .. }, None) => in_nested(field, container, mode, |n| erase_slot(n, at))?,
        _ => return Err(Error::Internal("a mixed instruction without its value".into())),
    };
    if let Field::Nested(n) = &data.fields[pi] {
        tx.lamport = tx.lamport.max(n.max_lamport());
    }
    if outcome != Outcome::Applied {
        // A link nulled by rule 6 into a slot that was already null still says so.
        return Ok(match (outcome, adjusted) {
            (Outcome::NoOp, Some(why)) => Outcome::Adjusted(why),
            (o, _) => o,
        });
    }
    if let Some((tclass, tpk)) = init.as_ref().and_then(init_value).and_then(Value::as_typed_link) {
        let ti = schema.class(tclass)?.0;
        tx.add_backlink(ti, tpk, ci, pk)?;
    }
    tx.save_object(ci, pk, data)?;
    tx.changes.record_modify(class, pk, prop);
    Ok(adjusted.map(Outcome::Adjusted).unwrap_or(Outcome::Applied))
}

/// Rule 4 for the whole value: the later set wins (it replaces a nested collection, and with it
/// everything inside).
fn set_whole(field: &mut Field, init: &MixedInit) -> Outcome {
    let same = match (&*field, init) {
        (Field::Value(a), MixedInit::Value(b)) => a.same_as(b),
        (Field::Nested(n), MixedInit::List(id) | MixedInit::Dict(id)) => n.id() == *id,
        _ => false,
    };
    if same {
        return Outcome::NoOp;
    }
    *field = match (Nested::new(init), init) {
        (Some(n), _) => Field::Nested(n),
        (None, MixedInit::Value(v)) => Field::Value(v.clone()),
        (None, _) => Field::Value(Value::Null),
    };
    Outcome::Applied
}

/// Runs `op` on the nested collection `r` names; if it was replaced, the operation is dropped
/// (in a merge) or is the caller's mistake (locally).
fn in_nested(field: &mut Field, r: &NestedRef, mode: Mode, op: impl FnOnce(&mut Nested) -> Outcome) -> Result<Outcome> {
    let found = match field {
        Field::Nested(n) => n.find_mut(r),
        _ => None,
    };
    match (found, mode) {
        (Some(n), _) => Ok(op(n)),
        (None, Mode::Local) => Err(Error::TypeMismatch("the path does not lead to a nested collection of the mixed".into())),
        (None, Mode::Merge) => Ok(Outcome::Dropped(
            "its nested collection was replaced or removed (the mixed or a slot above it was set to another value)".into(),
        )),
    }
}

fn insert(n: &mut Nested, id: ElemId, after: Option<ElemId>, init: &MixedInit) -> Outcome {
    let Nested::List { list, .. } = n else {
        return Outcome::Dropped("the nested collection is not a list".into());
    };
    if list.contains(id) {
        return Outcome::NoOp;
    }
    // As for lists: an anchor this replica never saw puts the element at the end.
    let anchor = match after {
        Some(a) if !list.contains(a) => list.elems.last().map(|e| e.id),
        other => other,
    };
    list.integrate_insert(id, anchor, MixedItem::from_init(init));
    Outcome::Applied
}

fn set_slot(n: &mut Nested, at: &PathStep, init: &MixedInit) -> Outcome {
    let slot = match (n, at) {
        (Nested::List { list, .. }, PathStep::Elem(id)) => match list.elems.iter_mut().find(|e| e.id == *id && !e.erased) {
            Some(e) => &mut e.value,
            None => return Outcome::Dropped("the nested list element was erased".into()),
        },
        // Rule 4 per key: the later set wins.
        (Nested::Dict { entries, .. }, PathStep::Key(k)) => {
            if entries.get(k).is_some_and(|old| old.holds(init)) {
                return Outcome::NoOp;
            }
            entries.insert(k.clone(), MixedItem::from_init(init));
            return Outcome::Applied;
        }
        _ => return Outcome::Dropped("the step does not fit the nested collection".into()),
    };
    if slot.holds(init) {
        return Outcome::NoOp;
    }
    *slot = MixedItem::from_init(init);
    Outcome::Applied
}

fn erase_slot(n: &mut Nested, at: &PathStep) -> Outcome {
    let erased = match (n, at) {
        (Nested::List { list, .. }, PathStep::Elem(id)) => list.erase(*id),
        (Nested::Dict { entries, .. }, PathStep::Key(k)) => entries.remove(k).is_some(),
        _ => false,
    };
    if erased { Outcome::Applied } else { Outcome::NoOp }
}

// ---- the app's API --------------------------------------------------------------------------------

/// A path the app gave, resolved against the current value: the nested collection it leads to.
fn resolve<'f>(field: &'f Field, path: &[MixedKey], prop: &str) -> Result<(NestedRef, &'f Nested)> {
    let not_collection = |at: usize| Error::TypeMismatch(format!("'{prop}' at {:?} does not hold a list or dictionary", &path[..at]));
    let Field::Nested(root) = field else { return Err(not_collection(0)) };
    let mut cur = root;
    let mut steps = Vec::with_capacity(path.len());
    for (i, key) in path.iter().enumerate() {
        let (step, item) = match (cur, key) {
            (Nested::List { list, .. }, MixedKey::Index(ix)) => {
                let e = list.visible().nth(*ix).ok_or(Error::IndexOutOfRange { index: *ix, len: list.len() })?;
                (PathStep::Elem(e.id), &e.value)
            }
            (Nested::Dict { entries, .. }, MixedKey::Key(k)) => {
                let item = entries.get(k).ok_or_else(|| Error::TypeMismatch(format!("'{prop}' has no key {k:?} at {:?}", &path[..i])))?;
                (PathStep::Key(k.clone()), item)
            }
            (Nested::List { .. }, MixedKey::Key(k)) => {
                return Err(Error::TypeMismatch(format!("'{prop}' at {:?} is a list, not keyed by {k:?}", &path[..i])));
            }
            (Nested::Dict { .. }, MixedKey::Index(ix)) => {
                return Err(Error::TypeMismatch(format!("'{prop}' at {:?} is a dictionary, not indexed by {ix}", &path[..i])));
            }
        };
        steps.push(step);
        match item {
            MixedItem::Nested(n) => cur = n,
            MixedItem::Value(_) => return Err(not_collection(i + 1)),
        }
    }
    Ok((NestedRef { path: steps, id: cur.id() }, cur))
}

impl Realm {
    /// Reads a `mixed` property (a scalar, or a nested collection with everything inside it).
    pub fn get_mixed(&self, class: &str, pk: &PrimaryKey, prop: &str) -> Result<Mixed> {
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            c.check_pk(pk)?;
            let (pi, p) = c.property(prop)?;
            if !p.is_single_mixed() {
                return Err(Error::TypeMismatch(format!("'{class}.{prop}' is not a single mixed property")));
            }
            let data = store::load_object(conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            Ok(field_to_mixed(&data.fields[pi]))
        })
    }

    /// Puts `value` (a scalar, a typed link, or a new empty list or dictionary) at `path` of a
    /// mixed property: the property itself when `path` is empty, else a list element (index)
    /// or dictionary key of the nested collection the rest of the path leads to.
    pub fn mixed_set(&self, class: &str, pk: &PrimaryKey, prop: &str, path: &[MixedKey], value: impl Into<MixedInput>) -> Result<()> {
        let value = value.into();
        self.mixed_write(class, pk, prop, |field, lamport, peer| {
            let init = new_init(&value, lamport, peer);
            let Some((last, parent)) = path.split_last() else {
                return Ok(Instruction::MixedSet { class: class.into(), pk: pk.clone(), prop: prop.into(), value: init });
            };
            let (container, nested) = resolve(field, parent, prop)?;
            let at = step_in(nested, last, prop, false)?;
            Ok(Instruction::NestedSet { class: class.into(), pk: pk.clone(), prop: prop.into(), container, at, value: init })
        })
    }

    /// Inserts `value` at `index` of the nested list at `path` of a mixed property.
    pub fn mixed_insert(
        &self,
        class: &str,
        pk: &PrimaryKey,
        prop: &str,
        path: &[MixedKey],
        index: usize,
        value: impl Into<MixedInput>,
    ) -> Result<()> {
        let value = value.into();
        self.mixed_write(class, pk, prop, |field, lamport, peer| {
            let (list, nested) = resolve(field, path, prop)?;
            let Nested::List { list: elems, .. } = nested else {
                return Err(Error::TypeMismatch(format!("'{prop}' at {path:?} is a dictionary, not a list")));
            };
            let len = elems.len();
            if index > len {
                return Err(Error::IndexOutOfRange { index, len });
            }
            let after = if index == 0 { None } else { elems.id_at(index - 1) };
            // The element and a collection inserted with it get distinct ids.
            let id = ElemId { lamport: lamport + 1, peer };
            let value = new_init(&value, lamport + 1, peer);
            Ok(Instruction::NestedInsert { class: class.into(), pk: pk.clone(), prop: prop.into(), list, id, after, value })
        })
    }

    /// Erases the list element or dictionary key at `path` (not empty) of a mixed property.
    pub fn mixed_erase(&self, class: &str, pk: &PrimaryKey, prop: &str, path: &[MixedKey]) -> Result<()> {
        self.mixed_write(class, pk, prop, |field, _, _| {
            let Some((last, parent)) = path.split_last() else {
                return Err(Error::InvalidArgument(
                    "an erase needs a path to a list element or key; set the property to null instead".into(),
                ));
            };
            let (container, nested) = resolve(field, parent, prop)?;
            let at = step_in(nested, last, prop, true)?;
            Ok(Instruction::NestedErase { class: class.into(), pk: pk.clone(), prop: prop.into(), container, at })
        })
    }

    /// Builds an instruction from the mixed field as this transaction sees it, then applies and
    /// records it.
    fn mixed_write(
        &self,
        class: &str,
        pk: &PrimaryKey,
        prop: &str,
        build: impl FnOnce(&Field, u64, u64) -> Result<Instruction>,
    ) -> Result<()> {
        let peer = self.peer_id();
        self.with_txn(|tx, rec| {
            let schema = tx.schema.clone();
            let (ci, c, pi, _) = match mixed_property(&schema, class, pk, prop, None, Mode::Local)? {
                Ok(x) => x,
                Err(outcome) => return Err(Error::Internal(format!("unexpected {outcome:?}"))),
            };
            let data = store::load_object(tx.conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            let ins = build(&data.fields[pi], tx.lamport, peer)?;
            rules::apply(tx, &ins, Mode::Local)?;
            rec.push(ins);
            Ok(())
        })
    }
}

fn new_init(value: &MixedInput, lamport: u64, peer: u64) -> MixedInit {
    let id = ElemId { lamport: lamport + 1, peer };
    match value {
        MixedInput::Value(v) => MixedInit::Value(v.clone()),
        MixedInput::List => MixedInit::List(id),
        MixedInput::Dictionary => MixedInit::Dict(id),
    }
}

/// The last step of an app's path inside `n`: an existing element (by index) or a key (which
/// must exist for an erase).
fn step_in(n: &Nested, key: &MixedKey, prop: &str, must_exist: bool) -> Result<PathStep> {
    match (n, key) {
        (Nested::List { list, .. }, MixedKey::Index(i)) => {
            list.id_at(*i).map(PathStep::Elem).ok_or(Error::IndexOutOfRange { index: *i, len: list.len() })
        }
        (Nested::Dict { entries, .. }, MixedKey::Key(k)) => {
            if must_exist && !entries.contains_key(k) {
                return Err(Error::InvalidArgument(format!("'{prop}' has no key {k:?}")));
            }
            Ok(PathStep::Key(k.clone()))
        }
        (Nested::List { .. }, MixedKey::Key(k)) => Err(Error::TypeMismatch(format!("'{prop}': a list is not keyed by {k:?}"))),
        (Nested::Dict { .. }, MixedKey::Index(i)) => Err(Error::TypeMismatch(format!("'{prop}': a dictionary is not indexed by {i}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(l: u64) -> ElemId {
        ElemId { lamport: l, peer: 1 }
    }

    #[test]
    fn an_operation_names_its_collection_by_identity_so_a_replaced_one_is_not_found() {
        let mut outer = Nested::Dict { id: id(1), entries: BTreeMap::new() };
        let Nested::Dict { entries, .. } = &mut outer else { unreachable!() };
        entries.insert("l".into(), MixedItem::Nested(Nested::List { id: id(2), list: RgaList::default() }));
        let r = NestedRef { path: vec![PathStep::Key("l".into())], id: id(2) };
        assert!(outer.find_mut(&r).is_some());
        let Nested::Dict { entries, .. } = &mut outer else { unreachable!() };
        entries.insert("l".into(), MixedItem::Nested(Nested::List { id: id(3), list: RgaList::default() }));
        assert!(outer.find_mut(&r).is_none(), "a list created again under the same key is another list");
    }

    #[test]
    fn mixed_rule_drops_an_insert_into_a_replaced_nested_list_with_a_reason() {
        use crate::schema::{ClassSchema, Property, Schema};
        use crate::value::ScalarType;
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let schema =
            Schema::new(vec![ClassSchema::new("C", "id", vec![Property::new("id", ScalarType::Int), Property::mixed("m")])]).unwrap();
        store::create_tables(&conn, &schema, 1).unwrap();
        let mut tx = Tx::new(&conn, std::sync::Arc::new(schema), 0);
        let set = |value| Instruction::MixedSet { class: "C".into(), pk: 1.into(), prop: "m".into(), value };
        let insert = |n: u64| Instruction::NestedInsert {
            class: "C".into(),
            pk: 1.into(),
            prop: "m".into(),
            list: NestedRef { path: vec![], id: id(1) },
            id: id(n),
            after: None,
            value: MixedInit::Value(Value::Int(n as i64)),
        };
        rules::apply(&mut tx, &Instruction::CreateObject { class: "C".into(), pk: 1.into(), fields: vec![] }, Mode::Merge).unwrap();
        assert_eq!(rules::apply(&mut tx, &set(MixedInit::List(id(1))), Mode::Merge).unwrap(), Outcome::Applied);
        assert_eq!(rules::apply(&mut tx, &insert(2), Mode::Merge).unwrap(), Outcome::Applied);
        assert_eq!(rules::apply(&mut tx, &insert(2), Mode::Merge).unwrap(), Outcome::NoOp, "re-applied in a rebase");
        assert_eq!(rules::apply(&mut tx, &set(MixedInit::List(id(1))), Mode::Merge).unwrap(), Outcome::NoOp, "the same list stays");
        // Replaced by another list (another identity): the insert into the old one is dropped.
        assert_eq!(rules::apply(&mut tx, &set(MixedInit::List(id(9))), Mode::Merge).unwrap(), Outcome::Applied);
        match rules::apply(&mut tx, &insert(3), Mode::Merge).unwrap() {
            Outcome::Dropped(why) => assert!(why.contains("replaced"), "{why}"),
            other => panic!("expected a drop, got {other:?}"),
        }
        assert!(matches!(rules::apply(&mut tx, &insert(3), Mode::Local), Err(Error::TypeMismatch(_))));
        let data = store::load_object(&conn, 0, &tx.schema.classes[0], &1.into()).unwrap().unwrap();
        assert_eq!(field_to_mixed(&data.fields[1]), Mixed::List(vec![]));
        assert!(tx.lamport >= 9, "ids seen in nested collections advance the lamport clock");
        // Rule 6: a link to a missing object is stored as null, and the outcome says so even
        // when the slot already was null.
        let link = Instruction::NestedSet {
            class: "C".into(),
            pk: 1.into(),
            prop: "m".into(),
            container: NestedRef { path: vec![], id: id(9) },
            at: PathStep::Elem(id(10)),
            value: MixedInit::Value(Value::TypedLink("C".into(), 77.into())),
        };
        let gone = Instruction::NestedInsert {
            class: "C".into(),
            pk: 1.into(),
            prop: "m".into(),
            list: NestedRef { path: vec![], id: id(9) },
            id: id(10),
            after: None,
            value: MixedInit::Value(Value::Null),
        };
        assert_eq!(rules::apply(&mut tx, &gone, Mode::Merge).unwrap(), Outcome::Applied);
        for _ in 0..2 {
            match rules::apply(&mut tx, &link, Mode::Merge).unwrap() {
                Outcome::Adjusted(why) => assert!(why.contains("erased"), "{why}"),
                other => panic!("expected an adjusted outcome, got {other:?}"),
            }
        }
    }

    #[test]
    fn mixed_instructions_round_trip_in_a_changeset() {
        let list = NestedRef { path: vec![PathStep::Key("k".into()), PathStep::Elem(id(4))], id: id(5) };
        let cs = crate::changeset::Changeset::new(
            3,
            9,
            vec![
                Instruction::MixedSet { class: "C".into(), pk: 1.into(), prop: "m".into(), value: MixedInit::Dict(id(1)) },
                Instruction::NestedInsert {
                    class: "C".into(),
                    pk: 1.into(),
                    prop: "m".into(),
                    list: list.clone(),
                    id: id(6),
                    after: None,
                    value: MixedInit::Value(Value::TypedLink("D".into(), "x".into())),
                },
                Instruction::NestedSet {
                    class: "C".into(),
                    pk: 1.into(),
                    prop: "m".into(),
                    container: list.clone(),
                    at: PathStep::Elem(id(6)),
                    value: MixedInit::List(id(7)),
                },
                Instruction::NestedErase {
                    class: "C".into(),
                    pk: 1.into(),
                    prop: "m".into(),
                    container: list,
                    at: PathStep::Key("z".into()),
                },
            ],
        );
        assert_eq!(crate::changeset::Changeset::decode(&cs.encode()).unwrap(), cs);
    }
}
