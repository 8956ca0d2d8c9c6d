//! Embedded objects (issue 15, as Realm's): objects of a class declared `"embedded": true`,
//! without a primary key, each owned by exactly one parent — a property holding one embedded
//! object, or an element of a list of them — and stored inside the parent's record
//! (`store::Field::Embedded` / `Field::EmbeddedList`). So an embedded object is erased with its
//! parent, travels with it (state chunks, the fresh copy, range reconciliation) and is written in
//! the same record write.
//!
//! Changes address an embedded object by path from its top-level parent: (class, primary key),
//! then one `EmbeddedStep` (property, embedded object id) per level. Every embedded object gets
//! an id when it is created, so a path means that object only: a change under an object that was
//! replaced or erased (or whose top-level parent was erased) leads nowhere and is dropped with
//! the reason (`Outcome::Dropped`; a reset reports it, normal sync logs it). Replacing a single
//! embedded object and setting a field inside one are sets: concurrent ones follow rule 4.
//! Lists of embedded objects are RGA lists (rule 5) whose elements are the objects.
//!
//! This module holds the schema checks, the rules of the four embedded instructions, and the
//! `Realm` methods that address embedded objects with a path string such as `items[2].size`.

use crate::changeset::{ElemId, EmbeddedStep, Instruction};
use crate::error::{Error, Result};
use crate::list::RgaList;
use crate::realm::{FieldValue, Realm};
use crate::rules::{self, Mode, Outcome, Tx, drop_or_err};
use crate::schema::{ClassSchema, Property, Schema};
use crate::store::{self, Field, ObjectData};
use crate::value::{PrimaryKey, Value};
use std::collections::BTreeMap;

/// How deep embedded objects may nest (a path of at most this many steps): deeper writes are
/// refused, so every record stays readable (`store` refuses deeper records as corrupt).
pub const MAX_DEPTH: usize = 64;

/// A list of embedded objects: the order of an RGA list (whose element values are unused, always
/// null) and the live objects by element id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbeddedList {
    pub order: RgaList,
    pub objects: BTreeMap<ElemId, ObjectData>,
}

impl EmbeddedList {
    /// The live objects in list order, with their ids.
    pub fn visible(&self) -> impl Iterator<Item = (ElemId, &ObjectData)> {
        self.order.visible().filter_map(|e| self.objects.get(&e.id).map(|o| (e.id, o)))
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn max_lamport(&self) -> u64 {
        let nested = self.objects.values().flat_map(|o| &o.fields).map(Field::max_lamport);
        nested.fold(self.order.max_lamport(), u64::max)
    }

    fn get_mut(&mut self, id: ElemId) -> Option<&mut ObjectData> {
        if self.order.is_live(id) { self.objects.get_mut(&id) } else { None }
    }

    /// RGA insert (an anchor this replica never saw puts the object at the end, as for lists);
    /// false if the id is already there.
    fn insert(&mut self, id: ElemId, after: Option<ElemId>, object: ObjectData) -> bool {
        if self.order.contains(id) {
            return false;
        }
        let anchor = match after {
            Some(a) if !self.order.contains(a) => self.order.elems.last().map(|e| e.id),
            other => other,
        };
        self.order.integrate_insert(id, anchor, Value::Null);
        self.objects.insert(id, object);
        true
    }

    fn erase(&mut self, id: ElemId) -> bool {
        let erased = self.order.erase(id);
        self.objects.remove(&id);
        erased
    }
}

/// An embedded object as read: its class and every property in schema order.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedObject {
    pub class: String,
    pub fields: Vec<(String, FieldValue)>,
}

impl EmbeddedObject {
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        crate::realm::field_named(&self.fields, name)
    }

    pub fn value(&self, name: &str) -> Option<&Value> {
        crate::realm::value_named(&self.fields, name)
    }
}

// ---- schema ------------------------------------------------------------------------------------

/// The embedded class a property holds objects of, if it is an embedded-object property.
fn embedded_target<'s>(schema: &'s Schema, p: &Property) -> Option<&'s ClassSchema> {
    let t = p.target.as_deref()?;
    schema.class(t).ok().map(|(_, c)| c).filter(|c| c.embedded)
}

/// The checks of an embedded class: no primary key, at least one property, and properties that
/// are scalars or embedded objects (links, counters and collections of scalars inside embedded
/// objects are not supported yet).
pub(crate) fn validate_embedded_class(schema: &Schema, c: &ClassSchema) -> Result<()> {
    let bad = |p: Option<&str>, why: &str| {
        Err(Error::InvalidSchema(match p {
            Some(p) => format!("class '{}', property '{p}': {why}", c.name),
            None => format!("class '{}': {why}", c.name),
        }))
    };
    if !c.primary_key.is_empty() {
        return bad(None, "an embedded class has no primary key (its objects are reached through their parent)");
    }
    if c.properties.is_empty() {
        return bad(None, "an embedded class needs at least one property");
    }
    for p in &c.properties {
        let holds_embedded = embedded_target(schema, p).is_some();
        let mixed = p.kind == crate::value::ScalarType::Mixed;
        if p.counter || mixed || (p.is_collection() && !holds_embedded) || (p.target.is_some() && !holds_embedded) {
            return bad(
                Some(&p.name),
                "an embedded object holds scalars and embedded objects only (links, mixed, counters and collections are not supported in it)",
            );
        }
    }
    Ok(())
}

/// The checks of a property holding embedded objects: one (optional, like a link) or a list.
pub(crate) fn validate_embedded_property(schema: &Schema, c: &ClassSchema, p: &Property) -> Result<()> {
    if embedded_target(schema, p).is_none() {
        return Ok(());
    }
    let why = if p.set {
        "a set cannot hold embedded objects"
    } else if p.dictionary {
        "a dictionary of embedded objects is not supported"
    } else {
        return Ok(());
    };
    Err(Error::InvalidSchema(format!("class '{}', property '{}': {why}", c.name, p.name)))
}

/// An embedded class cannot have top-level objects.
pub(crate) fn refuse_top_level(c: &ClassSchema) -> Option<Error> {
    c.embedded.then(|| Error::InvalidArgument(format!("'{}' is an embedded class: its objects are created inside a parent object", c.name)))
}

/// A property holding embedded objects is not written with plain set / create / list operations.
pub(crate) fn refuse_plain_write(schema: &Schema, c: &ClassSchema, p: &Property) -> Option<Error> {
    embedded_target(schema, p).map(|_| {
        Error::TypeMismatch(format!("'{}.{}' holds embedded objects, not links: use the embedded-object operations", c.name, p.name))
    })
}

// ---- the rules ---------------------------------------------------------------------------------

/// An object's fields padded to its class's layout (embedded records are decoded unpadded).
fn pad(data: &mut ObjectData, class: &ClassSchema) {
    for p in class.properties.iter().skip(data.fields.len()) {
        data.fields.push(store::default_field(p));
    }
}

/// Why a path leads nowhere: the error of a local write and the reason of a merge.
type Miss = (Error, String);

fn miss(e: Error) -> Miss {
    let why = e.to_string();
    (e, why)
}

/// Follows `path` from `data` (an object of `class`) to the embedded object it names.
fn follow<'s, 'd>(
    schema: &'s Schema,
    mut class: &'s ClassSchema,
    mut data: &'d mut ObjectData,
    path: &[EmbeddedStep],
) -> std::result::Result<(&'s ClassSchema, &'d mut ObjectData), Miss> {
    for step in path {
        pad(data, class);
        let (pi, p) = class.property(&step.prop).map_err(miss)?;
        let Some(target) = embedded_target(schema, p) else {
            return Err(miss(Error::TypeMismatch(format!("'{}.{}' does not hold embedded objects", class.name, p.name))));
        };
        let gone = |what: &str| miss(Error::InvalidArgument(format!("the embedded object in '{}.{}' {what}", class.name, p.name)));
        data = match &mut data.fields[pi] {
            Field::Embedded(id, object) if *id == step.id => object,
            Field::Embedded(..) => return Err(gone("was replaced")),
            Field::EmbeddedList(list) => list.get_mut(step.id).ok_or_else(|| gone("was erased"))?,
            _ if p.list => return Err(gone("was erased")),
            _ => return Err(gone("was removed")),
        };
        class = target;
    }
    pad(data, class);
    Ok((class, data))
}

/// A new embedded object of `class` with `fields` (scalars only; every other property starts at
/// its default: null, or an empty list).
fn new_object(schema: &Schema, class: &ClassSchema, fields: &[(String, Value)]) -> Result<ObjectData> {
    let mut data = ObjectData::new_default(class);
    for (name, v) in fields {
        let (pi, p) = class.property(name)?;
        check_scalar(schema, class, p, v)?;
        data.fields[pi] = Field::Value(v.clone());
    }
    Ok(data)
}

/// A value for a scalar property of an embedded object: of its type, not an embedded object.
fn check_scalar(schema: &Schema, class: &ClassSchema, p: &Property, v: &Value) -> Result<()> {
    if let Some(e) = refuse_plain_write(schema, class, p) {
        return Err(e);
    }
    if !p.accepts(v) {
        return Err(rules::type_error(class, p, v));
    }
    Ok(())
}

/// Applies one of the four embedded instructions (`rules::apply` sends them here).
pub(crate) fn apply(tx: &mut Tx, ins: &Instruction, mode: Mode) -> Result<Outcome> {
    use Instruction::*;
    let (class, pk, path, prop) = match ins {
        EmbeddedSet { class, pk, path, prop, .. }
        | EmbeddedReplace { class, pk, path, prop, .. }
        | EmbeddedInsert { class, pk, path, prop, .. }
        | EmbeddedErase { class, pk, path, prop, .. } => (class, pk, path, prop),
        other => return Err(Error::Internal(format!("not an embedded instruction: {}", other.describe()))),
    };
    let schema = tx.schema.clone();
    let (ci, c) = schema.class(class)?;
    c.check_pk(pk)?;
    // A new object at the end of `path` is MAX_DEPTH + 1 deep.
    if path.len() >= MAX_DEPTH {
        let e = Error::InvalidArgument(format!("embedded objects nest at most {MAX_DEPTH} deep"));
        let why = e.to_string();
        return drop_or_err(mode, e, why);
    }
    let Some(mut data) = tx.load_object(ci, c, pk)? else {
        return drop_or_err(mode, Error::not_found(class, pk), format!("{class}[{pk}] was erased, and its embedded objects with it"));
    };
    let (ec, object) = match follow(&schema, c, &mut data, path) {
        Ok(x) => x,
        Err((e, why)) => return drop_or_err(mode, e, why),
    };
    let (pi, p) = match ec.property(prop) {
        Ok(x) => x,
        Err(e) => return drop_or_err(mode, e.clone(), e.to_string()),
    };
    let result = match ins {
        EmbeddedSet { value, .. } => set_field(&schema, ec, object, pi, p, path, value),
        EmbeddedReplace { object: new, .. } => replace(&schema, ec, object, pi, p, new.as_ref(), &mut tx.lamport),
        EmbeddedInsert { id, after, fields, .. } => insert(&schema, ec, object, pi, p, (*id, *after), fields, &mut tx.lamport),
        EmbeddedErase { id, .. } => erase(&schema, ec, object, pi, p, *id),
        _ => unreachable!("matched above"),
    };
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            let why = e.to_string();
            return drop_or_err(mode, e, why);
        }
    };
    if outcome == Outcome::Applied {
        tx.save_object(ci, pk, data)?;
        // Observers of the parent see the property that holds the embedded object change.
        tx.changes.record_modify(class, pk, path.first().map_or(prop.as_str(), |s| s.prop.as_str()));
    }
    Ok(outcome)
}

fn set_field(
    schema: &Schema,
    ec: &ClassSchema,
    object: &mut ObjectData,
    pi: usize,
    p: &Property,
    path: &[EmbeddedStep],
    value: &Value,
) -> Result<Outcome> {
    if path.is_empty() {
        return Err(Error::InvalidArgument("a set inside an embedded object needs a path to it".into()));
    }
    if p.is_collection() {
        return Err(Error::TypeMismatch(format!("'{}.{}' is a collection", ec.name, p.name)));
    }
    check_scalar(schema, ec, p, value)?;
    if object.value(pi).same_as(value) {
        return Ok(Outcome::NoOp);
    }
    object.fields[pi] = Field::Value(value.clone());
    Ok(Outcome::Applied)
}

/// The embedded class of a property that holds one embedded object (`list`: a list of them).
fn holds<'s>(schema: &'s Schema, ec: &ClassSchema, p: &Property, list: bool) -> Result<&'s ClassSchema> {
    match embedded_target(schema, p) {
        Some(t) if p.list == list => Ok(t),
        _ => Err(Error::TypeMismatch(format!(
            "'{}.{}' does not hold {}",
            ec.name,
            p.name,
            if list { "a list of embedded objects" } else { "one embedded object" }
        ))),
    }
}

/// Rule 4 between concurrent replacements: the one applied later wins. Re-applying the same
/// replacement (same id) changes nothing, so changes made inside it since are kept.
fn replace(
    schema: &Schema,
    ec: &ClassSchema,
    object: &mut ObjectData,
    pi: usize,
    p: &Property,
    new: Option<&(ElemId, Vec<(String, Value)>)>,
    lamport: &mut u64,
) -> Result<Outcome> {
    let target = holds(schema, ec, p, false)?;
    let field = &mut object.fields[pi];
    match new {
        Some((id, fields)) => {
            let created = new_object(schema, target, fields)?;
            *lamport = (*lamport).max(id.lamport);
            if matches!(field, Field::Embedded(current, _) if current == id) {
                return Ok(Outcome::NoOp);
            }
            *field = Field::Embedded(*id, Box::new(created));
        }
        None if matches!(field, Field::Value(Value::Null)) => return Ok(Outcome::NoOp),
        None => *field = Field::Value(Value::Null),
    }
    Ok(Outcome::Applied)
}

/// The list of embedded objects stored in `field` (an empty one may still be a plain `List`).
fn list_of(field: &mut Field) -> &mut EmbeddedList {
    if !matches!(field, Field::EmbeddedList(_)) {
        *field = Field::EmbeddedList(EmbeddedList::default());
    }
    match field {
        Field::EmbeddedList(l) => l,
        _ => unreachable!("just made one"),
    }
}

#[allow(clippy::too_many_arguments)]
fn insert(
    schema: &Schema,
    ec: &ClassSchema,
    object: &mut ObjectData,
    pi: usize,
    p: &Property,
    (id, after): (ElemId, Option<ElemId>),
    fields: &[(String, Value)],
    lamport: &mut u64,
) -> Result<Outcome> {
    let target = holds(schema, ec, p, true)?;
    let created = new_object(schema, target, fields)?;
    *lamport = (*lamport).max(id.lamport);
    Ok(if list_of(&mut object.fields[pi]).insert(id, after, created) { Outcome::Applied } else { Outcome::NoOp })
}

fn erase(schema: &Schema, ec: &ClassSchema, object: &mut ObjectData, pi: usize, p: &Property, id: ElemId) -> Result<Outcome> {
    holds(schema, ec, p, true)?;
    let erased = match &mut object.fields[pi] {
        Field::EmbeddedList(l) => l.erase(id),
        _ => false,
    };
    Ok(if erased { Outcome::Applied } else { Outcome::NoOp })
}

/// For reports: `.items.size` for a path through `items` to `size`.
pub fn describe_path(path: &[EmbeddedStep]) -> String {
    path.iter().map(|s| format!(".{}", s.prop)).collect()
}

// ---- reading -----------------------------------------------------------------------------------

/// How a property holding embedded objects reads (None for any other property).
pub(crate) fn field_value(schema: &Schema, p: &Property, f: &Field) -> Option<FieldValue> {
    let target = embedded_target(schema, p)?;
    Some(match f {
        Field::Embedded(_, o) => FieldValue::Embedded(Some(read_object(schema, target, o))),
        Field::EmbeddedList(l) => FieldValue::EmbeddedList(l.visible().map(|(_, o)| read_object(schema, target, o)).collect()),
        _ if p.list => FieldValue::EmbeddedList(Vec::new()),
        _ => FieldValue::Embedded(None),
    })
}

fn read_object(schema: &Schema, class: &ClassSchema, data: &ObjectData) -> EmbeddedObject {
    let fields = class
        .properties
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let default;
            let f = match data.fields.get(i) {
                Some(f) => f,
                None => {
                    default = store::default_field(p);
                    &default
                }
            };
            let v = field_value(schema, p, f).unwrap_or_else(|| match f {
                Field::Value(v) => FieldValue::Value(v.clone()),
                // Embedded classes hold scalars and embedded objects only.
                _ => FieldValue::Value(Value::Null),
            });
            (p.name.clone(), v)
        })
        .collect();
    EmbeddedObject { class: class.name.clone(), fields }
}

// ---- paths as the app writes them --------------------------------------------------------------

/// One step of a path string: a property name, with a list index for a list of embedded objects
/// (`items[2]`).
struct UserStep<'a> {
    prop: &'a str,
    index: Option<usize>,
}

/// Parses `address`, `items[2].size`: steps separated by `.`, a list element as `name[index]`.
fn parse_path(path: &str) -> Result<Vec<UserStep<'_>>> {
    let bad = |why: &str| Error::InvalidArgument(format!("embedded path '{path}': {why}"));
    path.split('.')
        .map(|part| {
            let (prop, index) = match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
                Some((name, i)) => (name, Some(i.parse::<usize>().map_err(|_| bad(&format!("'{i}' is not a list index")))?)),
                None => (part, None),
            };
            if prop.is_empty() || prop.contains(['[', ']']) {
                return Err(bad("a step is a property name, optionally followed by [index]"));
            }
            Ok(UserStep { prop, index })
        })
        .collect()
}

/// Where a path's steps lead: the ids of the embedded objects on the way, and the last one's
/// class and fields.
struct Located<'s, 'd> {
    steps: Vec<EmbeddedStep>,
    class: &'s ClassSchema,
    data: Option<&'d ObjectData>,
}

/// Follows user steps from `data` (an object of `class`). Every step must name an embedded
/// object that is there, except the last, which may be null (`data: None`).
fn locate<'s, 'd>(schema: &'s Schema, class: &'s ClassSchema, data: &'d ObjectData, steps: &[UserStep]) -> Result<Located<'s, 'd>> {
    let mut at = Located { steps: Vec::new(), class, data: Some(data) };
    for step in steps {
        let Some(data) = at.data else {
            return Err(Error::ObjectNotFound { class: at.class.name.clone(), pk: format!("at {}", describe_path(&at.steps)) });
        };
        let (pi, p) = at.class.property(step.prop)?;
        let Some(target) = embedded_target(schema, p) else {
            return Err(Error::TypeMismatch(format!("'{}.{}' does not hold embedded objects", at.class.name, p.name)));
        };
        let found = match (data.fields.get(pi), step.index) {
            (_, None) if p.list => {
                return Err(Error::InvalidArgument(format!(
                    "'{}.{}' is a list: name an element as {}[index]",
                    at.class.name, p.name, p.name
                )));
            }
            (_, Some(_)) if !p.list => return Err(Error::InvalidArgument(format!("'{}.{}' is not a list", at.class.name, p.name))),
            (Some(Field::Embedded(id, o)), None) => Some((*id, &**o)),
            (_, None) => None,
            (f, Some(index)) => {
                let list = match f {
                    Some(Field::EmbeddedList(l)) => l.visible().collect(),
                    _ => Vec::new(),
                };
                let len = list.len();
                Some(*list.get(index).ok_or(Error::IndexOutOfRange { index, len })?)
            }
        };
        match found {
            Some((id, o)) => {
                at.steps.push(EmbeddedStep { prop: p.name.clone(), id });
                at.data = Some(o);
            }
            None => {
                at.steps.push(EmbeddedStep { prop: p.name.clone(), id: ElemId { lamport: 0, peer: 0 } });
                at.data = None;
            }
        }
        at.class = target;
    }
    Ok(at)
}

/// The object a write addresses: located from a path whose last step (returned) is the property
/// written. The object must be there.
fn locate_parent<'s, 'd, 'p>(
    schema: &'s Schema,
    class: &'s ClassSchema,
    data: &'d ObjectData,
    steps: &'p [UserStep<'p>],
) -> Result<(Vec<EmbeddedStep>, &'s ClassSchema, &'d ObjectData, &'p UserStep<'p>)> {
    let (last, parent) = steps.split_last().ok_or_else(|| Error::InvalidArgument("an embedded path cannot be empty".into()))?;
    let at = locate(schema, class, data, parent)?;
    let Some(data) = at.data else {
        return Err(Error::ObjectNotFound { class: at.class.name.clone(), pk: format!("at {}", describe_path(&at.steps)) });
    };
    Ok((at.steps, at.class, data, last))
}

impl Realm {
    /// Builds one embedded instruction from the state of this thread's transaction (the top-level
    /// object, its schema, the next element id) and applies it as a local write.
    fn write_embedded(
        &self,
        class: &str,
        pk: &PrimaryKey,
        path: &str,
        build: impl FnOnce(&Schema, &ClassSchema, &ObjectData, &[UserStep], ElemId) -> Result<Instruction>,
    ) -> Result<()> {
        let steps = parse_path(path)?;
        let peer = self.peer_id();
        self.with_txn(|tx, rec| {
            let schema = tx.schema.clone();
            let (ci, c) = schema.class(class)?;
            c.check_pk(pk)?;
            let data = store::load_object(tx.conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            let ins = build(&schema, c, &data, &steps, ElemId { lamport: tx.lamport + 1, peer })?;
            rules::apply(tx, &ins, Mode::Local)?;
            rec.push(ins);
            Ok(())
        })
    }

    /// Sets the property at `path` (`address`, `items[2].size`), which holds one embedded
    /// object, to a new embedded object with `fields` (scalars; the rest start empty). The
    /// object it held, and everything inside it, is gone.
    pub fn set_embedded(&self, class: &str, pk: &PrimaryKey, path: &str, fields: &[(&str, Value)]) -> Result<()> {
        let fields: Vec<(String, Value)> = fields.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
        self.write_embedded(class, pk, path, |schema, c, data, steps, id| {
            let (path, _, _, last) = locate_parent(schema, c, data, steps)?;
            if last.index.is_some() {
                return Err(Error::InvalidArgument("set_embedded names a property holding one embedded object, not a list element".into()));
            }
            Ok(Instruction::EmbeddedReplace {
                class: class.into(),
                pk: pk.clone(),
                path,
                prop: last.prop.into(),
                object: Some((id, fields)),
            })
        })
    }

    /// Inserts a new embedded object with `fields` at `index` of the list of embedded objects at
    /// `path` (`items`, `parts[0].items`).
    pub fn insert_embedded(&self, class: &str, pk: &PrimaryKey, path: &str, index: usize, fields: &[(&str, Value)]) -> Result<()> {
        let fields: Vec<(String, Value)> = fields.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
        self.write_embedded(class, pk, path, |schema, c, data, steps, id| {
            let (path, pc, parent, last) = locate_parent(schema, c, data, steps)?;
            if last.index.is_some() {
                return Err(Error::InvalidArgument("insert_embedded names a list property, not an element".into()));
            }
            let (pi, _) = pc.property(last.prop)?;
            let ids: Vec<ElemId> = match parent.fields.get(pi) {
                Some(Field::EmbeddedList(l)) => l.visible().map(|(id, _)| id).collect(),
                _ => Vec::new(),
            };
            if index > ids.len() {
                return Err(Error::IndexOutOfRange { index, len: ids.len() });
            }
            let after = index.checked_sub(1).map(|i| ids[i]);
            Ok(Instruction::EmbeddedInsert { class: class.into(), pk: pk.clone(), path, prop: last.prop.into(), id, after, fields })
        })
    }

    /// Appends a new embedded object to the list of embedded objects at `path`.
    pub fn push_embedded(&self, class: &str, pk: &PrimaryKey, path: &str, fields: &[(&str, Value)]) -> Result<()> {
        let len = self.embedded_len_in_txn(class, pk, path)?;
        self.insert_embedded(class, pk, path, len, fields)
    }

    fn embedded_len_in_txn(&self, class: &str, pk: &PrimaryKey, path: &str) -> Result<usize> {
        let steps = parse_path(path)?;
        self.with_txn(|tx, _| {
            let (ci, c) = tx.schema.class(class)?;
            c.check_pk(pk)?;
            let data = store::load_object(tx.conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            list_len(&tx.schema, c, &data, &steps)
        })
    }

    /// Removes the embedded object at `path`: a property holding one (`address`: it becomes
    /// null) or a list element (`items[2]`).
    pub fn remove_embedded(&self, class: &str, pk: &PrimaryKey, path: &str) -> Result<()> {
        self.write_embedded(class, pk, path, |schema, c, data, steps, _| {
            let (path, pc, parent, last) = locate_parent(schema, c, data, steps)?;
            let (pk, class) = (pk.clone(), class.to_string());
            let prop = last.prop.to_string();
            let Some(index) = last.index else {
                return Ok(Instruction::EmbeddedReplace { class, pk, path, prop, object: None });
            };
            let (pi, _) = pc.property(last.prop)?;
            let ids: Vec<ElemId> = match parent.fields.get(pi) {
                Some(Field::EmbeddedList(l)) => l.visible().map(|(id, _)| id).collect(),
                _ => Vec::new(),
            };
            let id = *ids.get(index).ok_or(Error::IndexOutOfRange { index, len: ids.len() })?;
            Ok(Instruction::EmbeddedErase { class, pk, path, prop, id })
        })
    }

    /// Sets a scalar property inside an embedded object: `path` is the path to the object, then
    /// the property (`address.street`, `items[2].size`).
    pub fn set_embedded_value(&self, class: &str, pk: &PrimaryKey, path: &str, value: Value) -> Result<()> {
        self.write_embedded(class, pk, path, |schema, c, data, steps, _| {
            let (path, _, _, last) = locate_parent(schema, c, data, steps)?;
            if path.is_empty() || last.index.is_some() {
                return Err(Error::InvalidArgument("set_embedded_value names an embedded object, then one of its properties".into()));
            }
            Ok(Instruction::EmbeddedSet { class: class.into(), pk: pk.clone(), path, prop: last.prop.into(), value })
        })
    }

    /// The embedded object at `path` (`address`, `items[2]`); None if the property is null.
    pub fn get_embedded(&self, class: &str, pk: &PrimaryKey, path: &str) -> Result<Option<EmbeddedObject>> {
        let steps = parse_path(path)?;
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            c.check_pk(pk)?;
            let data = store::load_object(conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            let at = locate(schema, c, &data, &steps)?;
            Ok(at.data.map(|d| read_object(schema, at.class, d)))
        })
    }

    /// A scalar property inside an embedded object (`address.street`, `items[2].size`).
    pub fn get_embedded_value(&self, class: &str, pk: &PrimaryKey, path: &str) -> Result<Value> {
        let steps = parse_path(path)?;
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            c.check_pk(pk)?;
            let data = store::load_object(conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            let (path, ec, object, last) = locate_parent(schema, c, &data, &steps)?;
            let (pi, p) = ec.property(last.prop)?;
            if path.is_empty() || last.index.is_some() || embedded_target(schema, p).is_some() {
                return Err(Error::InvalidArgument(
                    "get_embedded_value names an embedded object, then one of its scalar properties".into(),
                ));
            }
            Ok(object.value(pi).clone())
        })
    }

    /// The number of embedded objects in the list at `path` (`items`, `parts[0].items`).
    pub fn embedded_len(&self, class: &str, pk: &PrimaryKey, path: &str) -> Result<usize> {
        let steps = parse_path(path)?;
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            c.check_pk(pk)?;
            let data = store::load_object(conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            list_len(schema, c, &data, &steps)
        })
    }
}

fn list_len(schema: &Schema, c: &ClassSchema, data: &ObjectData, steps: &[UserStep]) -> Result<usize> {
    let (_, ec, object, last) = locate_parent(schema, c, data, steps)?;
    let (pi, p) = ec.property(last.prop)?;
    holds(schema, ec, p, true)?;
    if last.index.is_some() {
        return Err(Error::InvalidArgument("embedded_len names a list property, not an element".into()));
    }
    Ok(match object.fields.get(pi) {
        Some(Field::EmbeddedList(l)) => l.len(),
        _ => 0,
    })
}
