//! A list with stable element ids (DESIGN rule 5): an RGA sequence. Erased elements stay as
//! tombstones so that an insert recorded after them still finds its place. Generic over the
//! element so that a nested list in a `mixed` (whose elements may be collections) is the same
//! sequence.

use crate::changeset::ElemId;
use crate::value::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Elem<T = Value> {
    pub id: ElemId,
    pub value: T,
    pub erased: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RgaList<T = Value> {
    pub elems: Vec<Elem<T>>,
}

impl<T> Default for RgaList<T> {
    fn default() -> Self {
        RgaList { elems: Vec::new() }
    }
}

impl<T: Clone + Default> RgaList<T> {
    pub fn len(&self) -> usize {
        self.elems.iter().filter(|e| !e.erased).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn visible(&self) -> impl Iterator<Item = &Elem<T>> {
        self.elems.iter().filter(|e| !e.erased)
    }

    pub fn values(&self) -> Vec<T> {
        self.visible().map(|e| e.value.clone()).collect()
    }

    /// The id of the visible element at `index`.
    pub fn id_at(&self, index: usize) -> Option<ElemId> {
        self.visible().nth(index).map(|e| e.id)
    }

    pub fn max_lamport(&self) -> u64 {
        self.elems.iter().map(|e| e.id.lamport).max().unwrap_or(0)
    }

    fn position(&self, id: ElemId) -> Option<usize> {
        self.elems.iter().position(|e| e.id == id)
    }

    pub fn contains(&self, id: ElemId) -> bool {
        self.position(id).is_some()
    }

    pub fn is_live(&self, id: ElemId) -> bool {
        self.position(id).is_some_and(|i| !self.elems[i].erased)
    }

    /// RGA integration: place the element right after its anchor, skipping concurrent siblings
    /// (and their descendants) with greater ids. Returns false if the anchor is unknown or the id
    /// is already present (then nothing changes).
    pub fn integrate_insert(&mut self, id: ElemId, after: Option<ElemId>, value: T) -> bool {
        if self.contains(id) {
            return false;
        }
        let mut i = match after {
            None => 0,
            Some(a) => match self.position(a) {
                Some(p) => p + 1,
                None => return false,
            },
        };
        while i < self.elems.len() && self.elems[i].id > id {
            i += 1;
        }
        self.elems.insert(i, Elem { id, value, erased: false });
        true
    }

    /// Sets a live element; false if it is missing or erased (the erase wins).
    pub fn set(&mut self, id: ElemId, value: T) -> bool {
        match self.position(id) {
            Some(i) if !self.elems[i].erased => {
                self.elems[i].value = value;
                true
            }
            _ => false,
        }
    }

    /// Erases a live element; false if it is missing or already erased.
    pub fn erase(&mut self, id: ElemId) -> bool {
        match self.position(id) {
            Some(i) if !self.elems[i].erased => {
                self.elems[i].erased = true;
                self.elems[i].value = T::default();
                true
            }
            _ => false,
        }
    }

    pub fn value_of(&self, id: ElemId) -> Option<&T> {
        self.position(id).filter(|&i| !self.elems[i].erased).map(|i| &self.elems[i].value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn id(l: u64, p: u64) -> ElemId {
        ElemId { lamport: l, peer: p }
    }

    #[test]
    fn concurrent_inserts_at_same_anchor_order_by_id_on_every_replica() {
        let a = (id(5, 1), Some(id(1, 1)), Value::Int(10));
        let b = (id(5, 2), Some(id(1, 1)), Value::Int(20));
        let mut x = RgaList::<Value>::default();
        let mut y = RgaList::<Value>::default();
        x.integrate_insert(id(1, 1), None, Value::Int(0));
        y.integrate_insert(id(1, 1), None, Value::Int(0));
        x.integrate_insert(a.0, a.1, a.2.clone());
        x.integrate_insert(b.0, b.1, b.2.clone());
        y.integrate_insert(b.0, b.1, b.2);
        y.integrate_insert(a.0, a.1, a.2);
        assert_eq!(x.values(), y.values());
        assert_eq!(x.values(), vec![Value::Int(0), Value::Int(20), Value::Int(10)]);
    }

    #[test]
    fn insert_after_tombstone_keeps_its_place() {
        let mut l = RgaList::<Value>::default();
        l.integrate_insert(id(1, 1), None, Value::Int(1));
        l.integrate_insert(id(2, 1), Some(id(1, 1)), Value::Int(2));
        l.integrate_insert(id(3, 1), Some(id(2, 1)), Value::Int(3));
        assert!(l.erase(id(2, 1)));
        assert!(l.integrate_insert(id(4, 2), Some(id(2, 1)), Value::Int(9)));
        assert_eq!(l.values(), vec![Value::Int(1), Value::Int(9), Value::Int(3)]);
        assert!(!l.set(id(2, 1), Value::Int(5)), "a set on an erased element loses");
    }
}
