//! Object state as it travels in `StateChunk`s (the stored record bytes): remapping a server
//! record to the local layout (bootstrap, reset transform, compensating writes), and writing a
//! given state over one local object so that only what differs is written (compensating writes;
//! the reset transform writes through `overlay`).

use crate::error::{Error, Result};
use crate::rules::Tx;
use crate::schema::ClassSchema;
use crate::store::{self, Field, ObjectData};
use crate::value::PrimaryKey;

/// Whether records of `server` can be used as records of `local` unchanged.
pub fn same_layout(local: &ClassSchema, server: &ClassSchema) -> bool {
    local.properties == server.properties
}

/// Decodes a server record (in the server's property layout) into the local class's layout.
/// Properties the local class lacks are ignored; local properties the server lacks keep their
/// defaults; a property whose type differs is an error (a breaking difference).
pub fn remap(local: &ClassSchema, server: &ClassSchema, data: &[u8]) -> Result<ObjectData> {
    let decoded = store::decode_object(data, server)?;
    if same_layout(local, server) {
        return Ok(decoded);
    }
    let mut out = ObjectData::new_default(local);
    for (si, sp) in server.properties.iter().enumerate() {
        let Some(li) = local.property_index(&sp.name) else { continue };
        let lp = &local.properties[li];
        if lp.kind != sp.kind || lp.list != sp.list || lp.set != sp.set || lp.dictionary != sp.dictionary || lp.target != sp.target {
            return Err(Error::Protocol(format!("property '{}.{}' has another type on the server", local.name, sp.name)));
        }
        out.fields[li] = decoded.fields[si].clone();
    }
    Ok(out)
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
        tx.lamport = tx.lamport.max(f.max_lamport());
    }
}

fn add_backlinks(tx: &Tx, class_idx: usize, pk: &PrimaryKey, data: &ObjectData) -> Result<()> {
    let class = &tx.schema.classes[class_idx];
    for (p, f) in class.properties.iter().zip(&data.fields) {
        for (tclass, t) in f.typed_links() {
            store::add_backlink(tx.conn, tx.schema.class(tclass)?.0, t, class_idx, pk)?;
        }
        let Some(target) = &p.target else { continue };
        let ti = tx.schema.class(target)?.0;
        for t in f.links() {
            store::add_backlink(tx.conn, ti, t, class_idx, pk)?;
        }
    }
    Ok(())
}
