//! Instructions and changesets: the vocabulary that history, the sync protocol and the reset
//! engine speak. Encoded as MessagePack (rmp-serde). `CHANGESET_FORMAT` is bumped on any change
//! of shape; decoders reject formats they do not know.

use crate::error::{Error, Result};
use crate::mixed::{MixedInit, NestedRef, PathStep};
use crate::schema::{ClassSchema, Property};
use crate::value::{PrimaryKey, Value};
use serde::{Deserialize, Serialize};

pub const CHANGESET_FORMAT: u32 = 1;

/// The stable id of one list element (DESIGN rule 5): ordered by (lamport, peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ElemId {
    pub lamport: u64,
    pub peer: u64,
}

/// One step of the path from an object to an embedded object it owns: the property holding it
/// (a single embedded object or a list of them) and the embedded object's id. The id makes the
/// path mean that object only: once it is replaced or erased, the path leads nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmbeddedStep {
    pub prop: String,
    pub id: ElemId,
}

/// One change. Objects are named by class and primary key, properties by name, list elements by
/// their stable ids, so an instruction means the same thing after a rebase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Instruction {
    AddClass {
        class: ClassSchema,
    },
    AddProperty {
        class: String,
        property: Property,
    },
    /// Create, or upsert if it exists: the fields given here win (rule 3).
    CreateObject {
        class: String,
        pk: PrimaryKey,
        fields: Vec<(String, Value)>,
    },
    EraseObject {
        class: String,
        pk: PrimaryKey,
    },
    Set {
        class: String,
        pk: PrimaryKey,
        prop: String,
        value: Value,
    },
    /// Insert `value` with id `id` right after element `after` (None: at the front).
    ListInsert {
        class: String,
        pk: PrimaryKey,
        prop: String,
        id: ElemId,
        after: Option<ElemId>,
        value: Value,
    },
    ListSet {
        class: String,
        pk: PrimaryKey,
        prop: String,
        id: ElemId,
        value: Value,
    },
    ListErase {
        class: String,
        pk: PrimaryKey,
        prop: String,
        id: ElemId,
    },
    /// Moves element `from`: it is erased and its value re-inserted as `id` after `after`.
    ListMove {
        class: String,
        pk: PrimaryKey,
        prop: String,
        from: ElemId,
        id: ElemId,
        after: Option<ElemId>,
    },
    /// Erases exactly the elements that were visible when the clear was recorded, so a
    /// concurrent insert survives.
    ListClear {
        class: String,
        pk: PrimaryKey,
        prop: String,
        ids: Vec<ElemId>,
    },
    // New variants are appended: rmp-serde names a variant by its index, so changesets written
    // before a variant existed decode unchanged (CHANGESET_FORMAT stays).
    /// Adds `delta` to a counter (wrapping). Its own instruction, so concurrent adds merge
    /// additively instead of the later set winning.
    CounterAdd {
        class: String,
        pk: PrimaryKey,
        prop: String,
        delta: i64,
    },
    /// Adds `value` to a set (a no-op if it is there: concurrent adds give one element).
    SetAdd {
        class: String,
        pk: PrimaryKey,
        prop: String,
        value: Value,
    },
    /// Removes `value` from a set (a no-op if it is not there). Of an add and a remove of the
    /// same element, the later in server order wins.
    SetRemove {
        class: String,
        pk: PrimaryKey,
        prop: String,
        value: Value,
    },
    /// Sets one key of a dictionary (inserting it if absent). Key by key: concurrent sets of
    /// one key follow rule 4 (the later wins).
    DictSet {
        class: String,
        pk: PrimaryKey,
        prop: String,
        key: String,
        value: Value,
    },
    /// Erases one key of a dictionary (a no-op if it is absent). A clear is one erase per key
    /// the clearing side saw, so a key inserted concurrently survives.
    DictErase {
        class: String,
        pk: PrimaryKey,
        prop: String,
        key: String,
    },
    /// Sets a single `mixed` property as a whole: to a value, or to a new empty nested list or
    /// dictionary with its identity (see `crate::mixed`). Rule 4: the later in server order
    /// wins, and operations inside the collection it replaced are dropped.
    MixedSet {
        class: String,
        pk: PrimaryKey,
        prop: String,
        value: MixedInit,
    },
    /// Inserts into the nested list `list` of a mixed (RGA, as `ListInsert`).
    NestedInsert {
        class: String,
        pk: PrimaryKey,
        prop: String,
        list: NestedRef,
        id: ElemId,
        after: Option<ElemId>,
        value: MixedInit,
    },
    /// Sets a list element or a dictionary key of the nested collection `container`.
    NestedSet {
        class: String,
        pk: PrimaryKey,
        prop: String,
        container: NestedRef,
        at: PathStep,
        value: MixedInit,
    },
    /// Erases a list element or a dictionary key of the nested collection `container`.
    NestedErase {
        class: String,
        pk: PrimaryKey,
        prop: String,
        container: NestedRef,
        at: PathStep,
    },
    /// Sets the scalar property `prop` of the embedded object at `path` (never empty) inside
    /// object `(class, pk)`. Concurrent sets of one field follow rule 4.
    EmbeddedSet {
        class: String,
        pk: PrimaryKey,
        path: Vec<EmbeddedStep>,
        prop: String,
        value: Value,
    },
    /// Sets the single embedded-object property `prop` of the object at `path` (empty: the
    /// object itself) to a new embedded object with id and fields, or to null (None). The one it
    /// held is gone. Concurrent replacements follow rule 4.
    EmbeddedReplace {
        class: String,
        pk: PrimaryKey,
        path: Vec<EmbeddedStep>,
        prop: String,
        object: Option<(ElemId, Vec<(String, Value)>)>,
    },
    /// Inserts a new embedded object (id, fields) into the list `prop` of the object at `path`,
    /// right after element `after` (None: at the front), as `ListInsert` does.
    EmbeddedInsert {
        class: String,
        pk: PrimaryKey,
        path: Vec<EmbeddedStep>,
        prop: String,
        id: ElemId,
        after: Option<ElemId>,
        fields: Vec<(String, Value)>,
    },
    /// Erases the embedded object `id` from the list `prop` of the object at `path`.
    EmbeddedErase {
        class: String,
        pk: PrimaryKey,
        path: Vec<EmbeddedStep>,
        prop: String,
        id: ElemId,
    },
}

impl Instruction {
    /// The object this instruction touches, if any.
    pub fn object(&self) -> Option<(&str, &PrimaryKey)> {
        use Instruction::*;
        match self {
            AddClass { .. } | AddProperty { .. } => None,
            CreateObject { class, pk, .. }
            | EraseObject { class, pk }
            | Set { class, pk, .. }
            | ListInsert { class, pk, .. }
            | ListSet { class, pk, .. }
            | ListErase { class, pk, .. }
            | ListMove { class, pk, .. }
            | ListClear { class, pk, .. }
            | CounterAdd { class, pk, .. }
            | SetAdd { class, pk, .. }
            | SetRemove { class, pk, .. }
            | DictSet { class, pk, .. }
            | DictErase { class, pk, .. }
            | MixedSet { class, pk, .. }
            | NestedInsert { class, pk, .. }
            | NestedSet { class, pk, .. }
            | NestedErase { class, pk, .. }
            | EmbeddedSet { class, pk, .. }
            | EmbeddedReplace { class, pk, .. }
            | EmbeddedInsert { class, pk, .. }
            | EmbeddedErase { class, pk, .. } => Some((class, pk)),
        }
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        use Instruction::*;
        match self {
            AddClass { class } => format!("add class {}", class.name),
            AddProperty { class, property } => format!("add property {class}.{}", property.name),
            CreateObject { class, pk, .. } => format!("create {class}[{pk}]"),
            EraseObject { class, pk } => format!("erase {class}[{pk}]"),
            Set { class, pk, prop, value } => format!("set {class}[{pk}].{prop} = {value}"),
            ListInsert { class, pk, prop, value, .. } => format!("insert {value} into {class}[{pk}].{prop}"),
            ListSet { class, pk, prop, value, .. } => format!("set an element of {class}[{pk}].{prop} to {value}"),
            ListErase { class, pk, prop, .. } => format!("erase an element of {class}[{pk}].{prop}"),
            ListMove { class, pk, prop, .. } => format!("move an element of {class}[{pk}].{prop}"),
            ListClear { class, pk, prop, ids } => format!("clear {} elements of {class}[{pk}].{prop}", ids.len()),
            CounterAdd { class, pk, prop, delta } => format!("add {delta} to counter {class}[{pk}].{prop}"),
            SetAdd { class, pk, prop, value } => format!("add {value} to set {class}[{pk}].{prop}"),
            SetRemove { class, pk, prop, value } => format!("remove {value} from set {class}[{pk}].{prop}"),
            DictSet { class, pk, prop, key, value } => format!("set {class}[{pk}].{prop}[{key:?}] = {value}"),
            DictErase { class, pk, prop, key } => format!("erase {class}[{pk}].{prop}[{key:?}]"),
            MixedSet { class, pk, prop, value } => format!("set mixed {class}[{pk}].{prop} = {}", describe_init(value)),
            NestedInsert { class, pk, prop, value, .. } => {
                format!("insert {} into a nested list of mixed {class}[{pk}].{prop}", describe_init(value))
            }
            NestedSet { class, pk, prop, at, value, .. } => {
                format!("set {} of a nested collection of mixed {class}[{pk}].{prop} to {}", describe_step(at), describe_init(value))
            }
            NestedErase { class, pk, prop, at, .. } => {
                format!("erase {} of a nested collection of mixed {class}[{pk}].{prop}", describe_step(at))
            }
            EmbeddedSet { class, pk, path, prop, value } => {
                format!("set {class}[{pk}]{}.{prop} = {value}", crate::embedded::describe_path(path))
            }
            EmbeddedReplace { class, pk, path, prop, object: Some(_) } => {
                format!("set {class}[{pk}]{}.{prop} to a new embedded object", crate::embedded::describe_path(path))
            }
            EmbeddedReplace { class, pk, path, prop, object: None } => {
                format!("set {class}[{pk}]{}.{prop} = null", crate::embedded::describe_path(path))
            }
            EmbeddedInsert { class, pk, path, prop, .. } => {
                format!("insert an embedded object into {class}[{pk}]{}.{prop}", crate::embedded::describe_path(path))
            }
            EmbeddedErase { class, pk, path, prop, .. } => {
                format!("erase an embedded object of {class}[{pk}]{}.{prop}", crate::embedded::describe_path(path))
            }
        }
    }
}

fn describe_init(v: &MixedInit) -> String {
    match v {
        MixedInit::Value(v) => v.to_string(),
        MixedInit::List(_) => "a new list".into(),
        MixedInit::Dict(_) => "a new dictionary".into(),
    }
}

fn describe_step(s: &PathStep) -> String {
    match s {
        PathStep::Elem(_) => "an element".into(),
        PathStep::Key(k) => format!("key {k:?}"),
    }
}

/// The instructions of one committed write transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changeset {
    pub format: u32,
    /// The local version this commit produced on its origin.
    pub local_version: u64,
    /// The peer id of the realm file that wrote it.
    pub origin: u64,
    /// Wall-clock time of the commit, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub instructions: Vec<Instruction>,
}

impl Changeset {
    pub fn new(local_version: u64, origin: u64, instructions: Vec<Instruction>) -> Self {
        let timestamp_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        Changeset { format: CHANGESET_FORMAT, local_version, origin, timestamp_ms, instructions }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Encoding plain data into a Vec cannot fail.
        rmp_serde::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Changeset> {
        let cs: Changeset = rmp_serde::from_slice(bytes).map_err(|e| Error::Protocol(format!("undecodable changeset: {e}")))?;
        if cs.format != CHANGESET_FORMAT {
            return Err(Error::Protocol(format!("changeset format {} is not supported (expected {CHANGESET_FORMAT})", cs.format)));
        }
        Ok(cs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ScalarType;

    /// How `Property` was encoded in MessagePack before it had a hand-written `Serialize`: a
    /// positional array, `target` left out when absent.
    #[derive(Serialize)]
    struct OldProperty(String, ScalarType, bool, bool, #[serde(skip_serializing_if = "Option::is_none")] Option<String>);

    #[test]
    fn changesets_written_before_counters_still_decode() {
        let old = vec![
            OldProperty("n".into(), ScalarType::Int, false, true, None),
            OldProperty("l".into(), ScalarType::Link, true, false, Some("T".into())),
        ];
        let bytes = rmp_serde::to_vec(&old).unwrap();
        let props: Vec<Property> = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(props[0], Property::new("n", ScalarType::Int).optional());
        assert_eq!(props[1], Property::link_list("l", "T"));
        // And the new form round-trips with the flag, inside a changeset.
        let class = ClassSchema::new("C", "id", vec![Property::new("id", ScalarType::Int), Property::counter("hits")]);
        let cs = Changeset::new(
            1,
            7,
            vec![
                Instruction::AddClass { class },
                Instruction::CounterAdd { class: "C".into(), pk: 1.into(), prop: "hits".into(), delta: -3 },
            ],
        );
        assert_eq!(Changeset::decode(&cs.encode()).unwrap(), cs);
    }

    #[test]
    fn embedded_classes_and_instructions_round_trip_and_old_classes_still_decode() {
        // A class as encoded before `embedded` existed: name, primary key, properties.
        #[derive(Serialize)]
        struct OldClass(String, String, Vec<Property>);
        let old = OldClass("C".into(), "id".into(), vec![Property::new("id", ScalarType::Int)]);
        let class: ClassSchema = rmp_serde::from_slice(&rmp_serde::to_vec(&old).unwrap()).unwrap();
        assert_eq!(class, ClassSchema::new("C", "id", vec![Property::new("id", ScalarType::Int)]));
        assert!(!class.embedded);
        // A class without the flag encodes exactly as before.
        assert_eq!(rmp_serde::to_vec(&class).unwrap(), rmp_serde::to_vec(&old).unwrap());
        let id = ElemId { lamport: 3, peer: 9 };
        let step = EmbeddedStep { prop: "parts".into(), id };
        let cs = Changeset::new(
            2,
            9,
            vec![
                Instruction::AddClass { class: ClassSchema::embedded("E", vec![Property::new("x", ScalarType::Int)]) },
                Instruction::EmbeddedReplace {
                    class: "C".into(),
                    pk: 1.into(),
                    path: vec![],
                    prop: "e".into(),
                    object: Some((id, vec![])),
                },
                Instruction::EmbeddedInsert {
                    class: "C".into(),
                    pk: 1.into(),
                    path: vec![step.clone()],
                    prop: "sub".into(),
                    id,
                    after: None,
                    fields: vec![("x".into(), Value::Int(1))],
                },
                Instruction::EmbeddedSet {
                    class: "C".into(),
                    pk: 1.into(),
                    path: vec![step.clone()],
                    prop: "x".into(),
                    value: Value::Int(2),
                },
                Instruction::EmbeddedErase { class: "C".into(), pk: 1.into(), path: vec![], prop: "parts".into(), id },
            ],
        );
        assert_eq!(Changeset::decode(&cs.encode()).unwrap(), cs);
    }
}
