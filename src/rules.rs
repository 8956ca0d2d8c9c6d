//! The one rulebook (DESIGN "One rulebook for merging"). Local writes, integration of server
//! changesets, the server's own merge and client-reset recovery all apply instructions through
//! `apply`, so they cannot drift apart.
//!
//! In `Mode::Local` an instruction that cannot apply is the caller's mistake and becomes an
//! error. In `Mode::Merge` it is a conflict: the rule decides, and an instruction that loses is
//! reported as `Outcome::Dropped` with the reason.

use crate::changeset::Instruction;
use crate::error::{Error, Result};
use crate::notify::ChangeSummary;
use crate::overlay::Overlay;
use crate::schema::{ClassSchema, Property, Schema};
use crate::store::{self, Field, ObjectData};
use crate::value::{PrimaryKey, ScalarType, Value};
use rusqlite::Connection;
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Local,
    Merge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The instruction changed the realm.
    Applied,
    /// The instruction was valid but changed nothing (same value, erase of a missing object…).
    NoOp,
    /// The instruction applied, but a rule changed part of it (a link to an erased object was
    /// left null); the reason says what.
    Adjusted(String),
    /// A rule decided against the whole instruction; nothing changed. The reason says which.
    Dropped(String),
}

/// The state of one write transaction that the rules work on.
pub struct Tx<'a> {
    pub conn: &'a Connection,
    pub schema: Arc<Schema>,
    pub changes: ChangeSummary,
    /// The highest lamport value seen; new list elements get a greater one.
    pub lamport: u64,
    pub schema_changed: bool,
    /// The reset transform's writer (objects held until the end, written once); None: every
    /// read and write goes straight to the file.
    pub overlay: Option<Overlay<'a>>,
    /// Objects (class, primary key bytes) that exist here but not in the state a server
    /// changeset being integrated applies to: a link to one is a link to a missing object
    /// (rule 6). Empty but while `sync::integrate` applies a server changeset.
    pub absent_on_server: BTreeSet<(String, Vec<u8>)>,
}

impl<'a> Tx<'a> {
    pub fn new(conn: &'a Connection, schema: Arc<Schema>, lamport: u64) -> Self {
        Tx {
            conn,
            schema,
            changes: ChangeSummary::default(),
            lamport,
            schema_changed: false,
            overlay: None,
            absent_on_server: BTreeSet::new(),
        }
    }

    // The object access of the rules: through the overlay when there is one.

    pub(crate) fn load_object(&mut self, ci: usize, class: &ClassSchema, pk: &PrimaryKey) -> Result<Option<ObjectData>> {
        match &mut self.overlay {
            Some(o) => o.load(class, &(ci, pk.to_key_bytes())),
            None => store::load_object(self.conn, ci, class, pk),
        }
    }

    fn object_exists(&mut self, ci: usize, pk: &PrimaryKey) -> Result<bool> {
        match &mut self.overlay {
            Some(o) => o.exists(&(ci, pk.to_key_bytes())),
            None => store::object_exists(self.conn, ci, pk),
        }
    }

    /// Takes the object's new state by value: the overlay keeps it as it is (a reset's replay
    /// saves thousands of objects).
    pub(crate) fn save_object(&mut self, ci: usize, pk: &PrimaryKey, data: ObjectData) -> Result<()> {
        match &mut self.overlay {
            Some(o) => o.set(&(ci, pk.to_key_bytes()), Some(data)),
            None => store::save_object(self.conn, ci, pk, &data),
        }
    }

    /// `save_object` for a caller that still needs the object (the overlay gets a copy).
    fn save_object_ref(&mut self, ci: usize, pk: &PrimaryKey, data: &ObjectData) -> Result<()> {
        match &mut self.overlay {
            Some(o) => o.set(&(ci, pk.to_key_bytes()), Some(data.clone())),
            None => store::save_object(self.conn, ci, pk, data),
        }
    }

    fn insert_new_object(&mut self, ci: usize, pk: &PrimaryKey, data: &ObjectData) -> Result<bool> {
        match &mut self.overlay {
            Some(o) => {
                let key = (ci, pk.to_key_bytes());
                if o.exists(&key)? {
                    return Ok(false);
                }
                o.set(&key, Some(data.clone()))?;
                Ok(true)
            }
            None => store::insert_new_object(self.conn, ci, pk, data),
        }
    }

    fn delete_object(&mut self, ci: usize, pk: &PrimaryKey) -> Result<()> {
        match &mut self.overlay {
            Some(o) => o.set(&(ci, pk.to_key_bytes()), None),
            None => store::delete_object(self.conn, ci, pk),
        }
    }

    pub(crate) fn add_backlink(&mut self, tclass: usize, tpk: &PrimaryKey, sclass: usize, spk: &PrimaryKey) -> Result<()> {
        match &mut self.overlay {
            Some(o) => {
                o.note_backlink((tclass, tpk.to_key_bytes()), (sclass, spk.to_key_bytes()));
                Ok(())
            }
            None => store::add_backlink(self.conn, tclass, tpk, sclass, spk),
        }
    }

    fn take_backlinks(&mut self, tclass: usize, tpk: &PrimaryKey) -> Result<Vec<(usize, PrimaryKey)>> {
        match &mut self.overlay {
            Some(o) => o
                .take_backlinks(&(tclass, tpk.to_key_bytes()))?
                .into_iter()
                .map(|(c, k)| {
                    PrimaryKey::from_key_bytes(&k).map(|pk| (c, pk)).ok_or_else(|| Error::FileCorrupt("undecodable backlink".into()))
                })
                .collect(),
            None => store::take_backlinks(self.conn, tclass, tpk),
        }
    }
}

pub(crate) fn drop_or_err(mode: Mode, err: Error, reason: impl Into<String>) -> Result<Outcome> {
    match mode {
        Mode::Local => Err(err),
        Mode::Merge => Ok(Outcome::Dropped(reason.into())),
    }
}

pub(crate) fn type_error(class: &ClassSchema, p: &Property, v: &Value) -> Error {
    let what = if p.list {
        "list element"
    } else if p.set {
        "set element"
    } else {
        "property"
    };
    Error::TypeMismatch(format!(
        "{what} '{}.{}' is {}{}, got {}",
        class.name,
        p.name,
        p.kind.name(),
        if p.optional { "?" } else { "" },
        v.type_name()
    ))
}

/// Applies one instruction with the rules of `mode`.
pub fn apply(tx: &mut Tx, ins: &Instruction, mode: Mode) -> Result<Outcome> {
    use Instruction::*;
    match ins {
        AddClass { class } => add_class(tx, class, mode),
        AddProperty { class, property } => add_property(tx, class, property, mode),
        CreateObject { class, pk, fields } => create(tx, class, pk, fields, mode),
        EraseObject { class, pk } => erase(tx, class, pk, mode),
        Set { class, pk, prop, value } => set(tx, class, pk, prop, value, mode),
        ListInsert { class, pk, prop, id, after, value } => {
            let (id, after) = (*id, *after);
            list_op(tx, class, pk, prop, Some(value), mode, |list, value| {
                if list.contains(id) {
                    return Ok(Outcome::NoOp);
                }
                // An anchor this replica never saw (its object was re-created, or the server
                // lost it) puts the element at the end rather than losing it.
                let anchor = match after {
                    Some(a) if !list.contains(a) => list.elems.last().map(|e| e.id),
                    other => other,
                };
                list.integrate_insert(id, anchor, value);
                Ok(Outcome::Applied)
            })
        }
        ListSet { class, pk, prop, id, value } => {
            let id = *id;
            list_op(tx, class, pk, prop, Some(value), mode, |list, value| match list.value_of(id) {
                None => Ok(Outcome::Dropped("the list element was erased".into())),
                Some(old) if old.same_as(&value) => Ok(Outcome::NoOp),
                Some(_) => {
                    list.set(id, value);
                    Ok(Outcome::Applied)
                }
            })
        }
        ListErase { class, pk, prop, id } => {
            let id = *id;
            list_op(tx, class, pk, prop, None, mode, |list, _| Ok(if list.erase(id) { Outcome::Applied } else { Outcome::NoOp }))
        }
        ListMove { class, pk, prop, from, id, after } => {
            let (from, id, after) = (*from, *id, *after);
            list_op(tx, class, pk, prop, None, mode, |list, _| {
                let Some(v) = list.value_of(from).cloned() else {
                    return Ok(Outcome::Dropped("the moved list element was erased".into()));
                };
                list.erase(from);
                let anchor = match after {
                    Some(a) if !list.contains(a) => list.elems.last().map(|e| e.id),
                    other => other,
                };
                list.integrate_insert(id, anchor, v);
                Ok(Outcome::Applied)
            })
        }
        ListClear { class, pk, prop, ids } => list_op(tx, class, pk, prop, None, mode, |list, _| {
            let mut any = false;
            for id in ids {
                any |= list.erase(*id);
            }
            Ok(if any { Outcome::Applied } else { Outcome::NoOp })
        }),
        CounterAdd { class, pk, prop, delta } => counter_add(tx, class, pk, prop, *delta, mode),
        SetAdd { class, pk, prop, value } => set_op(tx, class, pk, prop, value, true, mode),
        SetRemove { class, pk, prop, value } => set_op(tx, class, pk, prop, value, false, mode),
        DictSet { class, pk, prop, key, value } => dict_op(tx, class, pk, prop, key, Some(value), mode),
        DictErase { class, pk, prop, key } => dict_op(tx, class, pk, prop, key, None, mode),
        MixedSet { .. } | NestedInsert { .. } | NestedSet { .. } | NestedErase { .. } => crate::mixed::apply(tx, ins, mode),
        EmbeddedSet { .. } | EmbeddedReplace { .. } | EmbeddedInsert { .. } | EmbeddedErase { .. } => crate::embedded::apply(tx, ins, mode),
    }
}

fn add_class(tx: &mut Tx, class: &ClassSchema, mode: Mode) -> Result<Outcome> {
    if let Some(i) = tx.schema.class_index(&class.name) {
        if tx.schema.classes[i] == *class {
            return Ok(Outcome::NoOp);
        }
        return drop_or_err(
            mode,
            Error::BreakingSchemaChange(vec![format!("class '{}' exists with another definition", class.name)]),
            format!("class '{}' exists with another definition", class.name),
        );
    }
    let next = tx.schema.apply_additive(&[crate::schema::AdditiveChange::AddClass(class.clone())])?;
    tx.schema = Arc::new(next);
    tx.schema_changed = true;
    Ok(Outcome::Applied)
}

fn add_property(tx: &mut Tx, class: &str, property: &Property, mode: Mode) -> Result<Outcome> {
    let (_, c) = tx.schema.class(class)?;
    if let Some(i) = c.property_index(&property.name) {
        if c.properties[i] == *property {
            return Ok(Outcome::NoOp);
        }
        let why = format!("property '{class}.{}' exists with another type", property.name);
        return drop_or_err(mode, Error::BreakingSchemaChange(vec![why.clone()]), why);
    }
    if !property.is_nullable() && !property.is_collection() {
        let why = format!("property '{class}.{}' is required; only optional properties can be added", property.name);
        return drop_or_err(mode, Error::BreakingSchemaChange(vec![why.clone()]), why);
    }
    let change = crate::schema::AdditiveChange::AddProperty { class: class.to_string(), property: property.clone() };
    let next = tx.schema.apply_additive(&[change])?;
    tx.schema = Arc::new(next);
    tx.schema_changed = true;
    Ok(Outcome::Applied)
}

/// The class and key `v` links to when stored in `p`: a link (its class from the schema) or a
/// typed link (in a `mixed`, naming its class).
fn link_of<'v>(p: &'v Property, v: &'v Value) -> Option<(&'v str, &'v PrimaryKey)> {
    match (v, &p.target) {
        (Value::TypedLink(c, pk), _) => Some((c, pk)),
        (Value::Link(pk), Some(t)) => Some((t, pk)),
        _ => None,
    }
}

/// Checks a link target; rule 6: a link to a missing object is not kept.
fn link_target_exists(tx: &mut Tx, p: &Property, v: &Value) -> Result<bool> {
    let Some((target, tpk)) = link_of(p, v) else { return Ok(true) };
    typed_link_target_exists(tx, target, tpk)
}

/// Whether `class[pk]` exists (an unknown class or a key of the wrong type is an error).
pub(crate) fn typed_link_target_exists(tx: &mut Tx, class: &str, pk: &PrimaryKey) -> Result<bool> {
    let schema = tx.schema.clone();
    let (ti, tc) = schema.class(class)?;
    tc.check_pk(pk)?;
    if !tx.absent_on_server.is_empty() && tx.absent_on_server.contains(&(class.to_string(), pk.to_key_bytes())) {
        return Ok(false);
    }
    tx.object_exists(ti, pk)
}

/// Applies a local `CreateObject` that must not find the object: `DuplicatePrimaryKey` if it
/// exists (checked with the same lookup the create needs anyway).
pub fn apply_create_new(tx: &mut Tx, ins: &Instruction) -> Result<Outcome> {
    match ins {
        Instruction::CreateObject { class, pk, fields } => create_inner(tx, class, pk, fields, Mode::Local, true),
        other => apply(tx, other, Mode::Local),
    }
}

fn create(tx: &mut Tx, class: &str, pk: &PrimaryKey, fields: &[(String, Value)], mode: Mode) -> Result<Outcome> {
    create_inner(tx, class, pk, fields, mode, false)
}

fn create_inner(tx: &mut Tx, class: &str, pk: &PrimaryKey, fields: &[(String, Value)], mode: Mode, require_new: bool) -> Result<Outcome> {
    let schema = tx.schema.clone();
    let (ci, c) = schema.class(class)?;
    if let Some(e) = crate::embedded::refuse_top_level(c) {
        let why = e.to_string();
        return drop_or_err(mode, e, why);
    }
    c.check_pk(pk)?;
    let pk_idx = c.primary_key_index();
    // Validate every field before touching anything, so a bad create changes nothing.
    let mut resolved = Vec::with_capacity(fields.len());
    for (name, v) in fields {
        let (pi, p) = match c.property(name) {
            Ok(x) => x,
            Err(e) => return drop_or_err(mode, e, format!("unknown property '{class}.{name}'")),
        };
        if p.is_collection() {
            let e = Error::TypeMismatch(format!("'{class}.{name}' is a list or set; fill it element by element"));
            return drop_or_err(mode, e, format!("'{class}.{name}' is a list or set"));
        }
        if let Some(e) = crate::embedded::refuse_plain_write(&schema, c, p) {
            let why = e.to_string();
            return drop_or_err(mode, e, why);
        }
        if pi == pk_idx {
            if PrimaryKey::from_value(v).as_ref() != Some(pk) {
                let e = Error::InvalidArgument(format!("the primary key '{class}.{name}' cannot be set to another value"));
                return drop_or_err(mode, e, "primary key mismatch");
            }
            continue;
        }
        if !p.accepts(v) {
            let e = type_error(c, p, v);
            let why = e.to_string();
            return drop_or_err(mode, e, why);
        }
        resolved.push((pi, p, v));
    }
    // A create that must be new skips the lookup: the insert itself detects a duplicate.
    let existing = if require_new { None } else { tx.load_object(ci, c, pk)? };
    let is_new = existing.is_none();
    let mut data = existing.unwrap_or_else(|| {
        let mut d = ObjectData::new_default(c);
        d.fields[pk_idx] = Field::Value(pk.to_value());
        d
    });
    // Check every link target before the first write (a failed local create changes nothing).
    let mut nulled = Vec::new();
    let mut checked = Vec::with_capacity(resolved.len());
    for (pi, p, v) in resolved {
        if link_target_exists(tx, p, v)? {
            checked.push((pi, p, v.clone()));
        } else if mode == Mode::Local {
            return Err(Error::not_found(p.target.as_deref().unwrap_or(""), v));
        } else {
            nulled.push(p.name.clone());
            checked.push((pi, p, Value::Null));
        }
    }
    let mut changed = Vec::new();
    let mut backlinks = Vec::new();
    for (pi, p, v) in checked {
        if !matches!(&data.fields[pi], Field::Value(old) if old.same_as(&v)) {
            if let Some((t, tpk)) = link_of(p, &v) {
                backlinks.push((schema.class(t)?.0, tpk.clone()));
            }
            data.fields[pi] = Field::Value(v);
            changed.push(&p.name);
        }
    }
    if !is_new && changed.is_empty() {
        return Ok(if nulled.is_empty() { Outcome::NoOp } else { Outcome::Adjusted(link_reason(&nulled)) });
    }
    if require_new {
        if !tx.insert_new_object(ci, pk, &data)? {
            return Err(Error::DuplicatePrimaryKey { class: class.to_string(), pk: pk.to_string() });
        }
    } else {
        tx.save_object(ci, pk, data)?;
    }
    for (ti, tpk) in backlinks {
        tx.add_backlink(ti, &tpk, ci, pk)?;
    }
    if is_new {
        tx.changes.record_insert(class, pk);
    } else {
        for name in changed {
            tx.changes.record_modify(class, pk, name);
        }
    }
    Ok(if nulled.is_empty() { Outcome::Applied } else { Outcome::Adjusted(link_reason(&nulled)) })
}

fn link_reason(props: &[String]) -> String {
    format!("link target was erased, so {} stayed null", props.join(", "))
}

/// Rule 2: erasing a missing object is a no-op. Rule 6: links to it become null or leave lists.
fn erase(tx: &mut Tx, class: &str, pk: &PrimaryKey, mode: Mode) -> Result<Outcome> {
    let schema = tx.schema.clone();
    let (ci, c) = schema.class(class)?;
    c.check_pk(pk)?;
    if !tx.object_exists(ci, pk)? {
        return Ok(Outcome::NoOp);
    }
    tx.delete_object(ci, pk)?;
    tx.changes.record_erase(class, pk);
    if !schema.is_link_target(class) {
        return Ok(Outcome::Applied);
    }
    let target = Value::Link(pk.clone());
    for (si, spk) in tx.take_backlinks(ci, pk)? {
        let Some(sc) = schema.classes.get(si) else { continue };
        let Some(mut data) = tx.load_object(si, sc, &spk)? else { continue };
        let mut touched = Vec::new();
        for (pi, p) in sc.properties.iter().enumerate() {
            let mixed = p.kind == ScalarType::Mixed;
            if !mixed && p.target.as_deref() != Some(class) {
                continue;
            }
            let before = collection_before(tx, mode, &sc.name, &spk, &p.name, &data, pi);
            let changed = match &mut data.fields[pi] {
                field if mixed => crate::mixed::null_typed_links(field, class, pk),
                Field::Value(v) if *v == target => {
                    *v = Value::Null;
                    true
                }
                Field::List(l) => {
                    let ids: Vec<_> = l.visible().filter(|e| e.value == target).map(|e| e.id).collect();
                    for id in &ids {
                        l.erase(*id);
                    }
                    !ids.is_empty()
                }
                Field::Set(elements) => store::set_remove(elements, &target),
                Field::Dict(entries) => {
                    let mut any = false;
                    for v in entries.values_mut().filter(|v| **v == target) {
                        *v = Value::Null;
                        any = true;
                    }
                    any
                }
                _ => false,
            };
            if changed {
                touched.push((pi, before));
            }
        }
        if !touched.is_empty() {
            save_and_record(tx, mode, si, sc, &spk, data, touched)?;
        }
    }
    Ok(Outcome::Applied)
}

/// Rule 1 (erase wins) and rule 4 (the later set wins: the one applied last).
fn set(tx: &mut Tx, class: &str, pk: &PrimaryKey, prop: &str, value: &Value, mode: Mode) -> Result<Outcome> {
    let schema = tx.schema.clone();
    let (ci, c) = schema.class(class)?;
    c.check_pk(pk)?;
    let (pi, p) = match c.property(prop) {
        Ok(x) => x,
        Err(e) => return drop_or_err(mode, e, format!("unknown property '{class}.{prop}'")),
    };
    if p.is_collection() {
        let e = Error::TypeMismatch(format!("'{class}.{prop}' is a list or set; edit it element by element"));
        return drop_or_err(mode, e, format!("'{class}.{prop}' is a list or set"));
    }
    if let Some(e) = crate::embedded::refuse_plain_write(&schema, c, p) {
        let why = e.to_string();
        return drop_or_err(mode, e, why);
    }
    if pi == c.primary_key_index() {
        let e = Error::InvalidArgument(format!("the primary key '{class}.{prop}' cannot be changed"));
        return drop_or_err(mode, e, "the primary key cannot be changed");
    }
    if !p.accepts(value) {
        let e = type_error(c, p, value);
        let why = e.to_string();
        return drop_or_err(mode, e, why);
    }
    let Some(mut data) = tx.load_object(ci, c, pk)? else {
        return drop_or_err(mode, Error::not_found(class, pk), format!("{class}[{pk}] was erased"));
    };
    let mut v = value.clone();
    let mut outcome = Outcome::Applied;
    if !link_target_exists(tx, p, &v)? {
        if mode == Mode::Local {
            return Err(Error::not_found(p.target.as_deref().unwrap_or(""), &v));
        }
        outcome = Outcome::Adjusted(link_reason(std::slice::from_ref(&p.name)));
        v = Value::Null;
    }
    if matches!(&data.fields[pi], Field::Value(old) if old.same_as(&v)) {
        return Ok(if outcome == Outcome::Applied { Outcome::NoOp } else { outcome });
    }
    if let Some((t, tpk)) = link_of(p, &v) {
        tx.add_backlink(schema.class(t)?.0, tpk, ci, pk)?;
    }
    data.fields[pi] = Field::Value(v);
    tx.save_object(ci, pk, data)?;
    tx.changes.record_modify(class, pk, prop);
    Ok(outcome)
}

/// Counters: an add is applied to whatever value the counter has when it arrives, so concurrent
/// adds sum up; a set is an ordinary `Set` (rule 4: the later one in server order wins, and adds
/// after it count from the value it set). A null (optional) counter counts as 0. An add on an
/// erased object, or on a property that is not (or no longer) a counter, is dropped.
fn counter_add(tx: &mut Tx, class: &str, pk: &PrimaryKey, prop: &str, delta: i64, mode: Mode) -> Result<Outcome> {
    let schema = tx.schema.clone();
    let (ci, c) = schema.class(class)?;
    c.check_pk(pk)?;
    let (pi, p) = match c.property(prop) {
        Ok(x) => x,
        Err(e) => return drop_or_err(mode, e, format!("unknown property '{class}.{prop}'")),
    };
    if !p.counter {
        let e = Error::TypeMismatch(format!("'{class}.{prop}' is not a counter"));
        return drop_or_err(mode, e, format!("'{class}.{prop}' is not a counter (its type changed)"));
    }
    let Some(mut data) = tx.load_object(ci, c, pk)? else {
        return drop_or_err(mode, Error::not_found(class, pk), format!("{class}[{pk}] was erased"));
    };
    let old = match data.value(pi) {
        Value::Int(i) => *i,
        Value::Null => 0,
        other => return Err(Error::FileCorrupt(format!("counter '{class}.{prop}' holds {}", other.type_name()))),
    };
    if delta == 0 {
        return Ok(Outcome::NoOp);
    }
    data.fields[pi] = Field::Value(Value::Int(old.wrapping_add(delta)));
    tx.save_object(ci, pk, data)?;
    tx.changes.record_modify(class, pk, prop);
    Ok(Outcome::Applied)
}

/// A collection property found by `collection_property`: class index, class, property index,
/// property.
pub(crate) type CollectionTarget<'s> = (usize, &'s ClassSchema, usize, &'s Property);

/// The checks every collection operation starts with: the class, the key, a property of the
/// wanted kind (`is_kind`, named `what` in errors) and, if given, a value it accepts. Ok(Err)
/// carries the outcome (or error) of an instruction that cannot apply.
fn collection_property<'s>(
    schema: &'s Schema,
    class: &str,
    pk: &PrimaryKey,
    prop: &str,
    value: Option<&Value>,
    mode: Mode,
    (is_kind, what): (fn(&Property) -> bool, &str),
) -> Result<std::result::Result<CollectionTarget<'s>, Outcome>> {
    let (ci, c) = schema.class(class)?;
    c.check_pk(pk)?;
    let (pi, p) = match c.property(prop) {
        Ok(x) => x,
        Err(e) => return drop_or_err(mode, e, format!("unknown property '{class}.{prop}'")).map(Err),
    };
    if !is_kind(p) {
        let e = Error::TypeMismatch(format!("'{class}.{prop}' is not a {what}"));
        return drop_or_err(mode, e, format!("'{class}.{prop}' is not a {what}")).map(Err);
    }
    if let Some(e) = crate::embedded::refuse_plain_write(schema, c, p) {
        let why = e.to_string();
        return drop_or_err(mode, e, why).map(Err);
    }
    if let Some(v) = value.filter(|v| !p.accepts(v)) {
        let e = type_error(c, p, v);
        let why = e.to_string();
        return drop_or_err(mode, e, why).map(Err);
    }
    Ok(Ok((ci, c, pi, p)))
}

/// Dictionaries, key by key: a set of a key inserts or replaces it (rule 4 between concurrent
/// sets: the later wins), an erase of an absent key is a no-op. A link to an erased object is
/// stored as null (rule 6), as for a single link.
fn dict_op(tx: &mut Tx, class: &str, pk: &PrimaryKey, prop: &str, key: &str, value: Option<&Value>, mode: Mode) -> Result<Outcome> {
    let schema = tx.schema.clone();
    let (ci, c, pi, p) = match collection_property(&schema, class, pk, prop, value, mode, (|p| p.dictionary, "dictionary"))? {
        Ok(x) => x,
        Err(outcome) => return Ok(outcome),
    };
    let mut outcome = Outcome::Applied;
    let mut value = value.cloned();
    if let Some(v) = &value
        && !link_target_exists(tx, p, v)?
    {
        if mode == Mode::Local {
            return Err(Error::not_found(p.target.as_deref().unwrap_or(""), v));
        }
        outcome = Outcome::Adjusted(link_reason(&[format!("{prop}[{key:?}]")]));
        value = Some(Value::Null);
    }
    let Some(mut data) = tx.load_object(ci, c, pk)? else {
        return drop_or_err(mode, Error::not_found(class, pk), format!("{class}[{pk}] was erased"));
    };
    let before = collection_before(tx, mode, class, pk, prop, &data, pi);
    let Some(entries) = data.dict_mut(pi) else {
        return Err(Error::FileCorrupt(format!("'{class}.{prop}' is not stored as a dictionary")));
    };
    let changed = match &value {
        Some(v) if entries.get(key).is_some_and(|old| old.same_as(v)) => false,
        Some(v) => {
            entries.insert(key.to_string(), v.clone());
            true
        }
        None => entries.remove(key).is_some(),
    };
    if !changed {
        return Ok(if outcome == Outcome::Applied { Outcome::NoOp } else { outcome });
    }
    if let Some((t, tpk)) = value.as_ref().and_then(|v| link_of(p, v)) {
        tx.add_backlink(schema.class(t)?.0, tpk, ci, pk)?;
    }
    save_and_record(tx, mode, ci, c, pk, data, [(pi, before)])?;
    Ok(outcome)
}

/// Sets: an add of an element that is there and a remove of one that is not are no-ops, so
/// concurrent adds give one element and, of an add and a remove of one element, the one applied
/// later (server order) wins. An add of a link to an erased object is dropped (rule 6).
fn set_op(tx: &mut Tx, class: &str, pk: &PrimaryKey, prop: &str, value: &Value, add: bool, mode: Mode) -> Result<Outcome> {
    let schema = tx.schema.clone();
    let (ci, c, pi, p) = match collection_property(&schema, class, pk, prop, Some(value), mode, (|p| p.set, "set"))? {
        Ok(x) => x,
        Err(outcome) => return Ok(outcome),
    };
    if add && !link_target_exists(tx, p, value)? {
        return drop_or_err(
            mode,
            Error::not_found(p.target.as_deref().unwrap_or(""), value),
            "the linked object was erased, so the link left the set",
        );
    }
    let Some(mut data) = tx.load_object(ci, c, pk)? else {
        return drop_or_err(mode, Error::not_found(class, pk), format!("{class}[{pk}] was erased"));
    };
    let before = collection_before(tx, mode, class, pk, prop, &data, pi);
    let Some(elements) = data.set_mut(pi) else {
        return Err(Error::FileCorrupt(format!("'{class}.{prop}' is not stored as a set")));
    };
    let changed = if add { store::set_insert(elements, value.clone()) } else { store::set_remove(elements, value) };
    if !changed {
        return Ok(Outcome::NoOp);
    }
    if let (true, Some((t, tpk))) = (add, link_of(p, value)) {
        tx.add_backlink(schema.class(t)?.0, tpk, ci, pk)?;
    }
    save_and_record(tx, mode, ci, c, pk, data, [(pi, before)])?;
    Ok(Outcome::Applied)
}

/// Loads a list, checks the value (if any), runs `op`, and saves when it changed something.
fn list_op(
    tx: &mut Tx,
    class: &str,
    pk: &PrimaryKey,
    prop: &str,
    value: Option<&Value>,
    mode: Mode,
    op: impl FnOnce(&mut crate::list::RgaList, Value) -> Result<Outcome>,
) -> Result<Outcome> {
    let schema = tx.schema.clone();
    let (ci, c, pi, p) = match collection_property(&schema, class, pk, prop, value, mode, (|p| p.list, "list"))? {
        Ok(x) => x,
        Err(outcome) => return Ok(outcome),
    };
    if let Some(v) = value
        && !link_target_exists(tx, p, v)?
    {
        return drop_or_err(
            mode,
            Error::not_found(p.target.as_deref().unwrap_or(""), v),
            "the linked object was erased, so the link left the list",
        );
    }
    let Some(mut data) = tx.load_object(ci, c, pk)? else {
        return drop_or_err(mode, Error::not_found(class, pk), format!("{class}[{pk}] was erased"));
    };
    let before = collection_before(tx, mode, class, pk, prop, &data, pi);
    let Some(list) = data.list_mut(pi) else {
        return Err(Error::FileCorrupt(format!("'{class}.{prop}' is not stored as a list")));
    };
    let outcome = op(list, value.cloned().unwrap_or(Value::Null))?;
    tx.lamport = tx.lamport.max(list.max_lamport());
    if outcome == Outcome::Applied {
        if let Some((t, tpk)) = value.and_then(|v| link_of(p, v)) {
            tx.add_backlink(schema.class(t)?.0, tpk, ci, pk)?;
        }
        save_and_record(tx, mode, ci, c, pk, data, [(pi, before)])?;
    }
    Ok(outcome)
}

// What changed inside a collection: a local write notes the collection's state before its first
// and after its last edit, and the commit compares the two (`ChangeSummary::note_collection_edit`).
// In `Mode::Merge` the caller compares whole objects afterwards (`refine_changes`, the reset
// transform), so the property's name is all the rules record.

/// A copy of field `pi` of `data` before its edit, when the summary needs it (the first local
/// edit of the collection in the transaction).
fn collection_before(tx: &Tx, mode: Mode, class: &str, pk: &PrimaryKey, prop: &str, data: &ObjectData, pi: usize) -> Option<Field> {
    (mode == Mode::Local && tx.changes.needs_before(class, pk, prop)).then(|| data.fields[pi].clone())
}

/// Saves an edited object and records its `touched` properties (index, state before the edit).
/// A local write's summary keeps each touched field's new state: moved out of the object after
/// the save, not copied. A merge records only which properties changed, so the object itself
/// is moved (into the reset's overlay: no copy of thousands of objects).
fn save_and_record(
    tx: &mut Tx,
    mode: Mode,
    ci: usize,
    c: &ClassSchema,
    pk: &PrimaryKey,
    mut data: ObjectData,
    touched: impl IntoIterator<Item = (usize, Option<Field>)>,
) -> Result<()> {
    if mode == Mode::Merge {
        for (pi, _) in touched {
            tx.changes.record_modify(&c.name, pk, &c.properties[pi].name);
        }
        return tx.save_object(ci, pk, data);
    }
    tx.save_object_ref(ci, pk, &data)?;
    for (pi, before) in touched {
        let after = std::mem::replace(&mut data.fields[pi], Field::Value(Value::Null));
        tx.changes.note_collection_edit(&c.name, pk, &c.properties[pi].name, before, after);
    }
    Ok(())
}

/// True for a property holding links (used by callers that check targets).
pub fn is_link(p: &Property) -> bool {
    p.kind == ScalarType::Link
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changeset::Instruction;

    fn tx_on(conn: &Connection, schema: Schema) -> Tx<'_> {
        store::create_tables(conn, &schema, 1).unwrap();
        Tx::new(conn, Arc::new(schema), 0)
    }

    fn item_schema(hits: Property) -> Schema {
        Schema::new(vec![ClassSchema::new("Item", "id", vec![Property::new("id", ScalarType::Int), hits])]).unwrap()
    }

    fn add(delta: i64) -> Instruction {
        Instruction::CounterAdd { class: "Item".into(), pk: 1.into(), prop: "hits".into(), delta }
    }

    #[test]
    fn counter_add_on_a_property_whose_type_changed_is_dropped_and_reported() {
        let conn = Connection::open_in_memory().unwrap();
        // On this side `hits` is a plain int (the server changed its type): the add cannot merge.
        let mut tx = tx_on(&conn, item_schema(Property::new("hits", ScalarType::Int)));
        let create = Instruction::CreateObject { class: "Item".into(), pk: 1.into(), fields: vec![("hits".into(), Value::Int(5))] };
        apply(&mut tx, &create, Mode::Merge).unwrap();
        match apply(&mut tx, &add(3), Mode::Merge).unwrap() {
            Outcome::Dropped(why) => assert!(why.contains("not a counter"), "{why}"),
            other => panic!("expected a drop, got {other:?}"),
        }
        assert!(matches!(apply(&mut tx, &add(3), Mode::Local), Err(Error::TypeMismatch(_))));
        let data = store::load_object(&conn, 0, &tx.schema.classes[0], &1.into()).unwrap().unwrap();
        assert_eq!(data.value(1), &Value::Int(5), "nothing changed");
    }

    #[test]
    fn counter_adds_in_either_order_give_the_same_sum() {
        let run = |order: [i64; 3]| {
            let conn = Connection::open_in_memory().unwrap();
            let mut tx = tx_on(&conn, item_schema(Property::counter("hits")));
            apply(&mut tx, &Instruction::CreateObject { class: "Item".into(), pk: 1.into(), fields: vec![] }, Mode::Merge).unwrap();
            for d in order {
                assert_eq!(apply(&mut tx, &add(d), Mode::Merge).unwrap(), Outcome::Applied);
            }
            store::load_object(&conn, 0, &tx.schema.classes[0], &1.into()).unwrap().unwrap().value(1).clone()
        };
        assert_eq!(run([1, 2, -7]), Value::Int(-4));
        assert_eq!(run([-7, 2, 1]), Value::Int(-4));
        assert_eq!(run([i64::MAX, 1, 5]), Value::Int(i64::MIN + 5), "an add wraps instead of failing a merge");
    }
}
