//! Object state as it travels in `StateChunk`s, and writing a given state over a local object
//! so that only what differs is written (bootstrap of a new client and the reset transform).

use crate::error::{Error, Result};
use crate::list::{Elem, RgaList};
use crate::protocol::{ObjectState, WireElem, WireField};
use crate::rules::Tx;
use crate::schema::ClassSchema;
use crate::store::{self, Field, ObjectData};
use crate::value::{PrimaryKey, Value};

/// The wire form of a stored object (fields in the class's property order).
pub fn object_to_state(pk: PrimaryKey, data: &ObjectData) -> ObjectState {
    let fields = data
        .fields
        .iter()
        .map(|f| match f {
            Field::Value(v) => WireField::Value(v.clone()),
            Field::List(l) => {
                WireField::List(l.elems.iter().map(|e| WireElem { id: e.id, value: e.value.clone(), erased: e.erased }).collect())
            }
        })
        .collect();
    ObjectState { pk, fields }
}

/// Converts a wire state (fields named by `properties`) into stored data of `class`.
/// Properties the local class lacks are ignored; local properties missing from the state keep
/// their defaults.
pub fn state_to_object(class: &ClassSchema, properties: &[String], state: &ObjectState) -> Result<ObjectData> {
    let mut data = ObjectData::new_default(class);
    if state.fields.len() != properties.len() {
        return Err(Error::Protocol(format!(
            "object of '{}' has {} fields for {} properties",
            class.name,
            state.fields.len(),
            properties.len()
        )));
    }
    for (name, f) in properties.iter().zip(&state.fields) {
        let Some(pi) = class.property_index(name) else { continue };
        let p = &class.properties[pi];
        data.fields[pi] = match (f, p.list) {
            (WireField::Value(v), false) if p.accepts(v) || pi == class.primary_key_index() => Field::Value(v.clone()),
            (WireField::List(elems), true) => {
                Field::List(RgaList { elems: elems.iter().map(|e| Elem { id: e.id, value: e.value.clone(), erased: e.erased }).collect() })
            }
            _ => return Err(Error::Protocol(format!("field '{}.{}' has the wrong shape or type", class.name, name))),
        };
    }
    Ok(data)
}

/// Makes the local object `(class, pk)` equal to `wanted` (None: erased), writing only what
/// differs and recording exactly that in the transaction's change summary. Links are written as
/// given; the caller makes sure their targets exist by the end of the transaction.
pub fn write_state(tx: &mut Tx, class_idx: usize, pk: &PrimaryKey, wanted: Option<ObjectData>) -> Result<()> {
    let schema = tx.schema.clone();
    let class = &schema.classes[class_idx];
    let current = store::load_object(tx.conn, class_idx, class, pk)?;
    match (current, wanted) {
        (None, None) => {}
        (Some(_), None) => {
            store::delete_object(tx.conn, class_idx, pk)?;
            tx.changes.record_erase(&class.name, pk);
        }
        (None, Some(w)) => {
            add_backlinks(tx, class_idx, pk, &w)?;
            store::save_object(tx.conn, class_idx, pk, &w)?;
            tx.changes.record_insert(&class.name, pk);
            bump_lamport(tx, &w);
        }
        (Some(cur), Some(w)) => {
            let changed: Vec<usize> = (0..class.properties.len()).filter(|&i| !field_same(cur.fields.get(i), w.fields.get(i))).collect();
            if !changed.is_empty() {
                add_backlinks(tx, class_idx, pk, &w)?;
                store::save_object(tx.conn, class_idx, pk, &w)?;
                for i in changed {
                    tx.changes.record_modify(&class.name, pk, &class.properties[i].name);
                }
                bump_lamport(tx, &w);
            }
        }
    }
    Ok(())
}

fn field_same(a: Option<&Field>, b: Option<&Field>) -> bool {
    match (a, b) {
        (Some(Field::Value(x)), Some(Field::Value(y))) => x.same_as(y),
        (Some(Field::List(x)), Some(Field::List(y))) => x == y,
        _ => a == b,
    }
}

fn bump_lamport(tx: &mut Tx, data: &ObjectData) {
    for f in &data.fields {
        if let Field::List(l) = f {
            tx.lamport = tx.lamport.max(l.max_lamport());
        }
    }
}

fn add_backlinks(tx: &Tx, class_idx: usize, pk: &PrimaryKey, data: &ObjectData) -> Result<()> {
    let class = &tx.schema.classes[class_idx];
    for (p, f) in class.properties.iter().zip(&data.fields) {
        let Some(target) = &p.target else { continue };
        let ti = tx.schema.class(target)?.0;
        match f {
            Field::Value(Value::Link(t)) => store::add_backlink(tx.conn, ti, t, class_idx, pk)?,
            Field::List(l) => {
                for e in l.visible() {
                    if let Value::Link(t) = &e.value {
                        store::add_backlink(tx.conn, ti, t, class_idx, pk)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
