//! Change summaries (what one commit changed) and the observers that receive them.
//!
//! A modified object's list, set and dictionary properties also say what changed inside them
//! (`CollectionChanges`, like Realm's collection change sets). Producers that compare a before
//! and an after state record it directly (`record_object`, `record_field`); the rules, which
//! change a collection one operation at a time, note the collection's state before the first and
//! after the last operation (`note_collection_edit`), and the commit turns those notes into
//! changes once (`resolve_pending`), so a transaction of many operations is compared once.

use crate::list::RgaList;
use crate::schema::ClassSchema;
use crate::store::{self, Field, ObjectData};
use crate::value::{PrimaryKey, Value};
use parking_lot::Mutex;
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Weak};

/// What was deleted, inserted and modified in one collection, each in ascending order.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed<T> {
    pub deleted: Vec<T>,
    pub inserted: Vec<T>,
    pub modified: Vec<T>,
}

impl<T> Default for Changed<T> {
    fn default() -> Self {
        Changed { deleted: Vec::new(), inserted: Vec::new(), modified: Vec::new() }
    }
}

impl<T> Changed<T> {
    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty() && self.inserted.is_empty() && self.modified.is_empty()
    }
}

/// What changed inside one collection property of a modified object.
#[derive(Debug, Clone, PartialEq)]
pub enum CollectionChanges {
    /// Indices as Realm reports them: `deleted` are positions in the list before the commit,
    /// `inserted` and `modified` positions in the list after it. Deleting the `deleted` positions
    /// from the old list and inserting at the `inserted` positions gives the new list. A moved
    /// element is a deletion and an insertion.
    List(Changed<usize>),
    /// The elements themselves (a set's element is its own identity), in the set's canonical
    /// order: `deleted` left the set, `inserted` joined it; `modified` is always empty.
    Set(Changed<Value>),
    /// Keys in key order: `inserted` appeared, `modified` got another value, `deleted` went.
    Dictionary(Changed<String>),
}

impl CollectionChanges {
    /// What changed from `old` to `new`; None for a field that is not a collection (a counter,
    /// any scalar) or when nothing visible changed.
    pub fn between(old: &Field, new: &Field) -> Option<CollectionChanges> {
        let changes = match (old, new) {
            (Field::List(o), Field::List(n)) => CollectionChanges::List(list_changes(o, n)),
            (Field::Set(o), Field::Set(n)) => CollectionChanges::Set(Changed {
                deleted: o.iter().filter(|v| !store::set_contains(n, v)).cloned().collect(),
                inserted: n.iter().filter(|v| !store::set_contains(o, v)).cloned().collect(),
                modified: Vec::new(),
            }),
            (Field::Dict(o), Field::Dict(n)) => CollectionChanges::Dictionary(Changed {
                deleted: o.keys().filter(|k| !n.contains_key(*k)).cloned().collect(),
                inserted: n.keys().filter(|k| !o.contains_key(*k)).cloned().collect(),
                modified: n.iter().filter(|(k, v)| o.get(*k).is_some_and(|ov| !ov.same_as(v))).map(|(k, _)| k.clone()).collect(),
            }),
            _ => return None,
        };
        (!changes.is_empty()).then_some(changes)
    }

    pub fn as_list(&self) -> Option<&Changed<usize>> {
        if let CollectionChanges::List(c) = self { Some(c) } else { None }
    }

    pub fn as_set(&self) -> Option<&Changed<Value>> {
        if let CollectionChanges::Set(c) = self { Some(c) } else { None }
    }

    pub fn as_dictionary(&self) -> Option<&Changed<String>> {
        if let CollectionChanges::Dictionary(c) = self { Some(c) } else { None }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            CollectionChanges::List(c) => c.is_empty(),
            CollectionChanges::Set(c) => c.is_empty(),
            CollectionChanges::Dictionary(c) => c.is_empty(),
        }
    }

    /// These changes followed by `later` (of the same collection), as one change.
    fn then(self, later: CollectionChanges) -> CollectionChanges {
        match (self, later) {
            (CollectionChanges::List(a), CollectionChanges::List(b)) => CollectionChanges::List(compose_list(&a, &b)),
            // A set element removed and added again is the same element: no change.
            (CollectionChanges::Set(a), CollectionChanges::Set(b)) => CollectionChanges::Set(compose_keyed(a, b, false)),
            // A key erased and set again may hold another value: modified.
            (CollectionChanges::Dictionary(a), CollectionChanges::Dictionary(b)) => {
                CollectionChanges::Dictionary(compose_keyed(a, b, true))
            }
            // The property changed kind in between (a schema change): only the later one holds.
            (_, later) => later,
        }
    }
}

/// List changes by element id: an element in both lists is kept (modified if its value
/// differs), the others were deleted or inserted. Elements never change their relative order in
/// an RGA list; should two replicas disagree, an element out of order counts as moved.
fn list_changes(old: &RgaList, new: &RgaList) -> Changed<usize> {
    if old.elems.len() == new.elems.len() && old.elems.iter().zip(&new.elems).all(|(o, n)| o.id == n.id) {
        return same_elements_changes(old, new);
    }
    changes_by_id(old, new)
}

/// `list_changes` in general: elements matched by id.
fn changes_by_id(old: &RgaList, new: &RgaList) -> Changed<usize> {
    let old_elems: Vec<_> = old.visible().collect();
    let old_pos: HashMap<_, usize> = old_elems.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    let mut kept = vec![false; old_elems.len()];
    let mut out = Changed::default();
    let mut last_kept = None;
    for (ni, e) in new.visible().enumerate() {
        match old_pos.get(&e.id) {
            Some(&oi) if last_kept.is_none_or(|l| oi > l) => {
                kept[oi] = true;
                last_kept = Some(oi);
                if !old_elems[oi].value.same_as(&e.value) {
                    out.modified.push(ni);
                }
            }
            _ => out.inserted.push(ni),
        }
    }
    out.deleted = (0..kept.len()).filter(|&i| !kept[i]).collect();
    out
}

/// `list_changes` of two lists with the same elements (tombstones included) in the same order,
/// as after erases and sets (a reset diff, rule 6): one walk, nothing to look up.
fn same_elements_changes(old: &RgaList, new: &RgaList) -> Changed<usize> {
    let mut out = Changed::default();
    let (mut oi, mut ni) = (0, 0);
    for (o, n) in old.elems.iter().zip(&new.elems) {
        match (o.erased, n.erased) {
            (false, false) => {
                if !o.value.same_as(&n.value) {
                    out.modified.push(ni);
                }
                oi += 1;
                ni += 1;
            }
            (false, true) => {
                out.deleted.push(oi);
                oi += 1;
            }
            (true, false) => {
                out.inserted.push(ni);
                ni += 1;
            }
            (true, true) => {}
        }
    }
    out
}

/// The `k`-th (from 0) natural number not in `sorted`.
fn nth_absent(sorted: &[usize], k: usize) -> usize {
    let mut n = k;
    for &s in sorted {
        if s <= n {
            n += 1;
        } else {
            break;
        }
    }
    n
}

/// Two list changes in a row as one: `a` takes list 0 to list 1, `b` list 1 to list 2.
fn compose_list(a: &Changed<usize>, b: &Changed<usize>) -> Changed<usize> {
    let below = |sorted: &[usize], q: usize| sorted.partition_point(|&x| x < q);
    // A position of list 1 that `a` did not insert, in list 0; one that `b` kept, in list 2.
    let to_old = |q: usize| nth_absent(&a.deleted, q - below(&a.inserted, q));
    let to_new = |q: usize| nth_absent(&b.inserted, q - below(&b.deleted, q));
    let mut deleted: Vec<usize> = a.deleted.clone();
    deleted.extend(b.deleted.iter().filter(|q| a.inserted.binary_search(q).is_err()).map(|&q| to_old(q)));
    let mut inserted: Vec<usize> = b.inserted.clone();
    inserted.extend(a.inserted.iter().filter(|q| b.deleted.binary_search(q).is_err()).map(|&q| to_new(q)));
    let mut modified: Vec<usize> = a.modified.iter().filter(|q| b.deleted.binary_search(q).is_err()).map(|&q| to_new(q)).collect();
    modified.extend(b.modified.iter().copied());
    for v in [&mut deleted, &mut inserted, &mut modified] {
        v.sort_unstable();
        v.dedup();
    }
    modified.retain(|p| inserted.binary_search(p).is_err());
    Changed { deleted, inserted, modified }
}

/// What identifies a set element or a dictionary key, and the order they are reported in.
trait CollectionKey: Clone {
    fn same(&self, other: &Self) -> bool;
    /// Sorts into reporting order and removes repeats.
    fn normalize(keys: &mut Vec<Self>);
}

impl CollectionKey for String {
    fn same(&self, other: &Self) -> bool {
        self == other
    }
    fn normalize(keys: &mut Vec<Self>) {
        keys.sort();
        keys.dedup();
    }
}

impl CollectionKey for Value {
    fn same(&self, other: &Self) -> bool {
        self.same_as(other)
    }
    fn normalize(keys: &mut Vec<Self>) {
        store::set_normalize(keys);
    }
}

/// Two keyed changes (set elements, dictionary keys) in a row as one; `reinsert_modifies`: a
/// key deleted by `a` and inserted by `b` counts as modified (else as unchanged).
fn compose_keyed<T: CollectionKey>(a: Changed<T>, b: Changed<T>, reinsert_modifies: bool) -> Changed<T> {
    let has = |v: &[T], x: &T| v.iter().any(|y| y.same(x));
    let mut out = Changed::default();
    // Deleted: there before `a` and deleted by one of them.
    out.deleted.extend(a.deleted.iter().filter(|k| !has(&b.inserted, k)).cloned());
    out.deleted.extend(b.deleted.iter().filter(|k| !has(&a.inserted, k)).cloned());
    if reinsert_modifies {
        out.modified.extend(a.deleted.iter().filter(|k| has(&b.inserted, k)).cloned());
    }
    out.inserted.extend(a.inserted.iter().filter(|k| !has(&b.deleted, k)).cloned());
    out.inserted.extend(b.inserted.iter().filter(|k| !has(&a.deleted, k)).cloned());
    out.modified.extend(a.modified.iter().chain(&b.modified).filter(|k| !has(&b.deleted, k) && !has(&a.inserted, k)).cloned());
    for v in [&mut out.deleted, &mut out.inserted, &mut out.modified] {
        T::normalize(v);
    }
    out
}

/// The names of an object's changed properties, in name order. A sorted vector, not a tree: an
/// object has a few of them, and a reset records thousands of objects (a tree's node is 280
/// bytes however few names it holds, and freeing thousands of them was 7 % of a reset). The
/// names are shared with the schema where the recorder has it (`insert_shared`): counted, not
/// copied. Two names fit inline: most objects a reset records need no allocation for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertyNames(SmallVec<[Arc<str>; 2]>);

impl PropertyNames {
    pub fn contains(&self, name: &str) -> bool {
        self.0.binary_search_by(|n| (**n).cmp(name)).is_ok()
    }

    /// Adds `name`; false if it was there.
    pub fn insert(&mut self, name: &str) -> bool {
        self.insert_with(name, || Arc::from(name))
    }

    /// Adds a name the caller already shares (a schema's, see `ClassSchema::shared_name`).
    pub fn insert_shared(&mut self, name: &Arc<str>) -> bool {
        self.insert_with(name, || name.clone())
    }

    fn insert_with(&mut self, name: &str, shared: impl FnOnce() -> Arc<str>) -> bool {
        match self.0.binary_search_by(|n| (**n).cmp(name)) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, shared());
                true
            }
        }
    }

    /// The names, in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.iter().map(|n| &**n)
    }

    /// The `i`-th name in name order.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i).map(|n| &**n)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: AsRef<str>> FromIterator<S> for PropertyNames {
    fn from_iter<I: IntoIterator<Item = S>>(names: I) -> Self {
        let mut out = PropertyNames::default();
        for n in names {
            out.insert(n.as_ref());
        }
        out
    }
}

/// What changed inside each changed collection property of one object, by property name, in
/// name order (a sorted vector with shared names and one entry inline, for the reasons
/// `PropertyNames` is one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectionsChanged(SmallVec<[(Arc<str>, CollectionChanges); 1]>);

impl CollectionsChanged {
    fn position(&self, prop: &str) -> std::result::Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| (**n).cmp(prop))
    }

    pub fn get(&self, prop: &str) -> Option<&CollectionChanges> {
        self.position(prop).ok().map(|i| &self.0[i].1)
    }

    /// Sets the changes of `prop`, replacing any it had.
    pub fn insert(&mut self, prop: &str, changes: CollectionChanges) {
        self.insert_with(prop, || Arc::from(prop), changes)
    }

    /// `insert` with a name the caller already shares.
    pub fn insert_shared(&mut self, prop: &Arc<str>, changes: CollectionChanges) {
        self.insert_with(prop, || prop.clone(), changes)
    }

    fn insert_with(&mut self, prop: &str, shared: impl FnOnce() -> Arc<str>, changes: CollectionChanges) {
        match self.position(prop) {
            Ok(i) => self.0[i].1 = changes,
            Err(i) => self.0.insert(i, (shared(), changes)),
        }
    }

    pub fn remove(&mut self, prop: &str) -> Option<CollectionChanges> {
        self.position(prop).ok().map(|i| self.0.remove(i).1)
    }

    /// (property name, its changes), in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &CollectionChanges)> {
        self.0.iter().map(|(n, c)| (&**n, c))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What one commit changed in one class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassChanges {
    pub inserted: BTreeSet<PrimaryKey>,
    pub erased: BTreeSet<PrimaryKey>,
    /// Objects that existed before and after the commit, with the properties that changed.
    pub modified: BTreeMap<PrimaryKey, PropertyNames>,
    /// For modified objects, what changed inside their changed list, set and dictionary
    /// properties (by property name). Counters and scalars have no entry.
    pub collections: BTreeMap<PrimaryKey, CollectionsChanged>,
}

impl ClassChanges {
    pub fn is_empty(&self) -> bool {
        self.inserted.is_empty() && self.erased.is_empty() && self.modified.is_empty()
    }

    /// What changed inside the collection property `prop` of the object `pk`.
    pub fn collection(&self, pk: &PrimaryKey, prop: &str) -> Option<&CollectionChanges> {
        self.collections.get(pk).and_then(|props| props.get(prop))
    }
}

/// A collection's state before the first and after the last operation of a transaction.
type PendingEdit = (Field, Field);

/// The properties that differ between an object's `old` and `new` state, and what changed
/// inside its changed collections (None: nothing differs).
fn object_changes(class: &ClassSchema, old: &ObjectData, new: &ObjectData) -> Option<(PropertyNames, CollectionsChanged)> {
    changes_of_fields(class, store::changed_properties(class, old, new).map(|i| (i, old.fields.get(i), new.fields.get(i))))
}

/// `object_changes` of the properties `changed` names, each with its old and new field.
fn changes_of_fields<'f>(
    class: &ClassSchema,
    changed: impl Iterator<Item = (usize, Option<&'f Field>, Option<&'f Field>)>,
) -> Option<(PropertyNames, CollectionsChanged)> {
    let mut changed = changed.peekable();
    changed.peek()?;
    let (mut names, mut inside) = (PropertyNames::default(), CollectionsChanged::default());
    for (i, old, new) in changed {
        let name = class.shared_name(i);
        if let Some(changes) = old.zip(new).and_then(|(o, n)| CollectionChanges::between(o, n))
            && !changes.is_empty()
        {
            inside.insert_shared(&name, changes);
        }
        names.insert_shared(&name);
    }
    Some((names, inside))
}

/// Changes recorded object by object, each object once and in key order (the reset's diff):
/// kept in vectors and built into a summary's trees at once (`ChangeSummary::merge_sorted`),
/// not by a tree search per object (1 ms of a reset that modifies 5,000 objects).
#[derive(Default)]
pub struct SortedChanges {
    classes: Vec<(String, SortedClass)>,
}

#[derive(Default)]
struct SortedClass {
    inserted: Vec<PrimaryKey>,
    erased: Vec<PrimaryKey>,
    modified: Vec<(PrimaryKey, PropertyNames)>,
    collections: Vec<(PrimaryKey, CollectionsChanged)>,
}

impl SortedChanges {
    fn class_mut(&mut self, class: &str) -> &mut SortedClass {
        if self.classes.last().is_none_or(|(name, _)| name != class) {
            self.classes.push((class.to_string(), SortedClass::default()));
        }
        &mut self.classes.last_mut().expect("just pushed").1
    }

    pub fn record_insert(&mut self, class: &str, pk: &PrimaryKey) {
        self.class_mut(class).inserted.push(pk.clone());
    }

    pub fn record_erase(&mut self, class: &str, pk: &PrimaryKey) {
        self.class_mut(class).erased.push(pk.clone());
    }

    /// What `ChangeSummary::record_object` records, for an object recorded nowhere else.
    pub fn record_object(&mut self, class: &ClassSchema, pk: &PrimaryKey, old: &ObjectData, new: &ObjectData) {
        self.record_modified(class, pk, object_changes(class, old, new));
    }

    /// `record_object` of an object whose differing fields are given: (property index, old
    /// field, new field), the properties not given being equal (the reset's diff decodes only
    /// the fields whose bytes differ).
    pub fn record_fields(&mut self, class: &ClassSchema, pk: &PrimaryKey, differing: &[(usize, Field, Field)]) {
        let changed = differing.iter().filter(|(_, o, n)| store::field_changed(Some(o), Some(n))).map(|(i, o, n)| (*i, Some(o), Some(n)));
        self.record_modified(class, pk, changes_of_fields(class, changed));
    }

    fn record_modified(&mut self, class: &ClassSchema, pk: &PrimaryKey, changes: Option<(PropertyNames, CollectionsChanged)>) {
        let Some((names, inside)) = changes else { return };
        let c = self.class_mut(&class.name);
        c.modified.push((pk.clone(), names));
        if !inside.is_empty() {
            c.collections.push((pk.clone(), inside));
        }
    }

    /// The trees, built from sorted runs (`from_iter` sorts what is not, so the summary is
    /// right whatever the order). A class recorded in two runs is merged.
    fn into_summary(self) -> ChangeSummary {
        let mut out = ChangeSummary::default();
        for (name, c) in self.classes {
            let built = ClassChanges {
                inserted: c.inserted.into_iter().collect(),
                erased: c.erased.into_iter().collect(),
                modified: c.modified.into_iter().collect(),
                collections: c.collections.into_iter().collect(),
            };
            if built.is_empty() {
                continue;
            }
            match out.classes.entry(name) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(built);
                }
                std::collections::btree_map::Entry::Occupied(o) => {
                    let name = o.key().clone();
                    out.merge(&ChangeSummary { classes: BTreeMap::from([(name, built)]), ..Default::default() });
                }
            }
        }
        out
    }
}

/// What one commit changed, by class name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSummary {
    pub classes: BTreeMap<String, ClassChanges>,
    /// Collections changed operation by operation, not yet compared: (class, object, property)
    /// → (state before the first operation, state after the last). Resolved at commit.
    pending: BTreeMap<(String, PrimaryKey, String), PendingEdit>,
    /// Records nothing (see `muted`).
    muted: bool,
}

impl ChangeSummary {
    pub fn is_empty(&self) -> bool {
        self.classes.values().all(ClassChanges::is_empty)
    }

    /// A summary that records nothing: the reset's replay writes through the overlay, whose own
    /// summary of the held objects replaces what the rules would record (recording it anyway
    /// cost 8 % of a recovery that erases thousands of objects).
    pub fn muted() -> Self {
        ChangeSummary { muted: true, ..Default::default() }
    }

    fn class_mut(&mut self, class: &str) -> &mut ClassChanges {
        if !self.classes.contains_key(class) {
            self.classes.insert(class.to_string(), ClassChanges::default());
        }
        self.classes.get_mut(class).expect("just inserted")
    }

    pub fn record_insert(&mut self, class: &str, pk: &PrimaryKey) {
        if self.muted {
            return;
        }
        let c = self.class_mut(class);
        c.inserted.insert(pk.clone());
    }

    /// An object created in this same commit and erased again leaves no trace.
    pub fn record_erase(&mut self, class: &str, pk: &PrimaryKey) {
        if self.muted {
            return;
        }
        let c = self.class_mut(class);
        c.modified.remove(pk);
        c.collections.remove(pk);
        if !c.inserted.remove(pk) {
            c.erased.insert(pk.clone());
        }
        self.pending.retain(|(pc, ppk, _), _| !(pc == class && ppk == pk));
    }

    /// Modifications of objects inserted in this commit are part of the insertion.
    pub fn record_modify(&mut self, class: &str, pk: &PrimaryKey, prop: &str) {
        if self.muted {
            return;
        }
        let c = self.class_mut(class);
        if c.inserted.contains(pk) {
            return;
        }
        c.modified.entry(pk.clone()).or_default().insert(prop);
    }

    /// The property `prop` changed from `old` to `new`: records the modification and, for a
    /// collection, what changed inside it.
    pub fn record_field(&mut self, class: &str, pk: &PrimaryKey, prop: &str, old: &Field, new: &Field) {
        self.record_modify(class, pk, prop);
        if let Some(changes) = CollectionChanges::between(old, new) {
            self.add_collection_changes(class, pk, prop, changes);
        }
    }

    /// Records every property that differs between an object's `old` and `new` state, and what
    /// changed inside its collections: what `record_field` does for each of them, with one
    /// lookup of the object per map instead of several per property (a reset records thousands).
    pub fn record_object(&mut self, class: &ClassSchema, pk: &PrimaryKey, old: &ObjectData, new: &ObjectData) {
        if self.muted {
            return;
        }
        let Some((names, inside)) = object_changes(class, old, new) else { return };
        let c = self.class_mut(&class.name);
        // Modifications of objects inserted in this commit are part of the insertion.
        if c.inserted.contains(pk) {
            return;
        }
        let props = c.modified.entry(pk.clone()).or_default();
        for name in &names.0 {
            props.insert_shared(name);
        }
        if inside.is_empty() {
            return;
        }
        let by_prop = c.collections.entry(pk.clone()).or_default();
        for (name, changes) in inside.0 {
            let combined = match by_prop.remove(&name) {
                Some(earlier) => earlier.then(changes),
                None => changes,
            };
            if !combined.is_empty() {
                by_prop.insert_shared(&name, combined);
            }
        }
        if by_prop.is_empty() {
            c.collections.remove(pk);
        }
    }

    /// Adds what `sorted` recorded (see `SortedChanges`).
    pub fn merge_sorted(&mut self, sorted: SortedChanges) {
        let built = sorted.into_summary();
        if self.classes.is_empty() && self.pending.is_empty() && !self.muted {
            self.classes = built.classes;
        } else {
            self.merge(&built);
        }
    }

    /// One operation changed the property `prop` from `before` to `after`: records the
    /// modification; for a collection, what changed inside is worked out once, by
    /// `resolve_pending`.
    /// `before` is needed (see `needs_before`) only for the first edit of a collection in the
    /// transaction.
    pub fn note_collection_edit(&mut self, class: &str, pk: &PrimaryKey, prop: &str, before: Option<Field>, after: Field) {
        self.record_modify(class, pk, prop);
        self.note_pending(class, pk, prop, before, after);
    }

    /// Whether `note_collection_edit` of this collection needs its state before the edit: only
    /// the state before the first edit in the transaction is kept, so later edits need not copy
    /// the collection.
    pub fn needs_before(&self, class: &str, pk: &PrimaryKey, prop: &str) -> bool {
        !self.muted
            && !self.classes.get(class).is_some_and(|c| c.inserted.contains(pk))
            && !self.pending.contains_key(&(class.to_string(), pk.clone(), prop.to_string()))
    }

    /// Keeps the earliest `before` and the latest `after` of a collection edited in steps
    /// (nothing for a scalar, nor for an object inserted in this commit: its insertion says it
    /// all).
    fn note_pending(&mut self, class: &str, pk: &PrimaryKey, prop: &str, before: Option<Field>, after: Field) {
        if self.muted || matches!(after, Field::Value(_)) || self.classes.get(class).is_some_and(|c| c.inserted.contains(pk)) {
            return;
        }
        let key = (class.to_string(), pk.clone(), prop.to_string());
        match (self.pending.get_mut(&key), before) {
            (Some(edit), _) => edit.1 = after,
            (None, Some(before)) => {
                self.pending.insert(key, (before, after));
            }
            // A first edit noted without its `before` (a caller's mistake): the modification
            // stands, without the detail.
            (None, None) => {}
        }
    }

    /// Turns the noted collection edits into collection changes (the commit does this before
    /// observers are called).
    pub fn resolve_pending(&mut self) {
        for ((class, pk, prop), (before, after)) in std::mem::take(&mut self.pending) {
            if let Some(changes) = CollectionChanges::between(&before, &after) {
                self.add_collection_changes(&class, &pk, &prop, changes);
            }
        }
    }

    fn resolve_pending_of(&mut self, class: &str, pk: &PrimaryKey, prop: &str) {
        if let Some((before, after)) = self.pending.remove(&(class.to_string(), pk.clone(), prop.to_string()))
            && let Some(changes) = CollectionChanges::between(&before, &after)
        {
            self.add_collection_changes(class, pk, prop, changes);
        }
    }

    /// Adds changes of a collection after those already recorded for it.
    fn add_collection_changes(&mut self, class: &str, pk: &PrimaryKey, prop: &str, changes: CollectionChanges) {
        // Only a property recorded as modified has changes inside it.
        let Some(c) = self.classes.get_mut(class).filter(|c| c.modified.get(pk).is_some_and(|props| props.contains(prop))) else {
            return;
        };
        let earlier = c.collections.get_mut(pk).and_then(|props| props.remove(prop));
        let combined = match earlier {
            Some(earlier) => earlier.then(changes),
            None => changes,
        };
        if !combined.is_empty() {
            c.collections.entry(pk.clone()).or_default().insert(prop, combined);
        } else if c.collections.get(pk).is_some_and(CollectionsChanged::is_empty) {
            c.collections.remove(pk);
        }
    }

    /// True if the object was inserted, erased or modified.
    pub fn touches(&self, class: &str, pk: &PrimaryKey) -> bool {
        self.classes.get(class).is_some_and(|c| c.inserted.contains(pk) || c.erased.contains(pk) || c.modified.contains_key(pk))
    }

    fn only_class(&self, class: &str) -> ChangeSummary {
        let mut out = ChangeSummary::default();
        if let Some(c) = self.classes.get(class).filter(|c| !c.is_empty()) {
            out.classes.insert(class.to_string(), c.clone());
        }
        out
    }

    fn only_object(&self, class: &str, pk: &PrimaryKey) -> ChangeSummary {
        let mut out = ChangeSummary::default();
        if let Some(c) = self.classes.get(class) {
            let mut oc = ClassChanges::default();
            if c.inserted.contains(pk) {
                oc.inserted.insert(pk.clone());
            }
            if c.erased.contains(pk) {
                oc.erased.insert(pk.clone());
            }
            if let Some(props) = c.modified.get(pk) {
                oc.modified.insert(pk.clone(), props.clone());
            }
            if let Some(props) = c.collections.get(pk) {
                oc.collections.insert(pk.clone(), props.clone());
            }
            if !oc.is_empty() {
                out.classes.insert(class.to_string(), oc);
            }
        }
        out
    }

    /// Merges a later commit's changes into this one (used where one logical change spans
    /// several steps). Collection changes of both compose into one.
    pub fn merge(&mut self, later: &ChangeSummary) {
        for (class, c) in &later.classes {
            for pk in &c.erased {
                self.record_erase(class, pk);
            }
            for pk in &c.inserted {
                self.record_insert(class, pk);
            }
            for (pk, props) in &c.modified {
                for p in props.iter() {
                    self.record_modify(class, pk, p);
                }
            }
            for (pk, props) in &c.collections {
                for (prop, changes) in props.iter() {
                    // This summary's own edits of the collection came first.
                    self.resolve_pending_of(class, pk, prop);
                    self.add_collection_changes(class, pk, prop, changes.clone());
                }
            }
        }
        for ((class, pk, prop), (before, after)) in &later.pending {
            self.note_pending(class, pk, prop, Some(before.clone()), after.clone());
        }
    }
}

/// What an observer watches.
#[derive(Debug, Clone, PartialEq)]
pub enum ObserverScope {
    Realm,
    Class(String),
    Object(String, PrimaryKey),
}

pub type ObserverFn = dyn Fn(&ChangeSummary) + Send + Sync;

struct Observer {
    id: u64,
    scope: ObserverScope,
    callback: Arc<ObserverFn>,
}

/// The observers of one realm file.
#[derive(Default)]
pub struct Observers {
    next_id: Mutex<u64>,
    list: Mutex<Vec<Observer>>,
}

impl Observers {
    pub fn add(&self, scope: ObserverScope, callback: Arc<ObserverFn>) -> u64 {
        let id = {
            let mut n = self.next_id.lock();
            *n += 1;
            *n
        };
        self.list.lock().push(Observer { id, scope, callback });
        id
    }

    pub fn remove(&self, id: u64) -> bool {
        let mut l = self.list.lock();
        let before = l.len();
        l.retain(|o| o.id != id);
        l.len() != before
    }

    /// Calls every interested observer. The list lock is released before any callback runs, so
    /// callbacks may register, unregister, read and write.
    pub fn notify(&self, changes: &ChangeSummary) {
        if changes.is_empty() {
            return;
        }
        let targets: Vec<(ObserverScope, Arc<ObserverFn>)> =
            self.list.lock().iter().map(|o| (o.scope.clone(), o.callback.clone())).collect();
        for (scope, cb) in targets {
            let view = match &scope {
                ObserverScope::Realm => changes.clone(),
                ObserverScope::Class(c) => changes.only_class(c),
                ObserverScope::Object(c, pk) => changes.only_object(c, pk),
            };
            if !view.is_empty() {
                cb(&view);
            }
        }
    }
}

/// Keeps an observer registered; dropping it (or calling `unregister`) removes the observer.
pub struct NotificationToken {
    observers: Weak<Observers>,
    id: u64,
}

impl NotificationToken {
    pub(crate) fn new(observers: &Arc<Observers>, id: u64) -> Self {
        NotificationToken { observers: Arc::downgrade(observers), id }
    }

    pub fn unregister(self) {}
}

impl Drop for NotificationToken {
    fn drop(&mut self) {
        if let Some(o) = self.observers.upgrade() {
            o.remove(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changeset::ElemId;

    /// A small deterministic generator (the tests need no crate for this).
    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % n.max(1)
        }
    }

    /// Random inserts, sets (each to a value never used before) and erases on `list`.
    fn edit_list(list: &mut RgaList, rng: &mut Lcg, next: &mut i64) {
        for _ in 0..rng.below(6) {
            *next += 1;
            let ids: Vec<ElemId> = list.visible().map(|e| e.id).collect();
            match rng.below(3) {
                0 => {
                    let after = if ids.is_empty() { None } else { Some(ids[rng.below(ids.len())]) };
                    list.integrate_insert(ElemId { lamport: *next as u64, peer: 1 }, after, Value::Int(*next));
                }
                1 if !ids.is_empty() => {
                    list.set(ids[rng.below(ids.len())], Value::Int(*next));
                }
                _ if !ids.is_empty() => {
                    list.erase(ids[rng.below(ids.len())]);
                }
                _ => {}
            }
        }
    }

    /// Three states of a collection, each made from the one before by random edits (every new
    /// value is one never used before, so a value that changed twice still differs).
    fn three_states<T: Clone + Default>(rng: &mut Lcg, edit: impl Fn(&mut T, &mut Lcg, &mut i64)) -> [T; 3] {
        let mut next = 0;
        let mut s0 = T::default();
        edit(&mut s0, rng, &mut next);
        let mut s1 = s0.clone();
        edit(&mut s1, rng, &mut next);
        let mut s2 = s1.clone();
        edit(&mut s2, rng, &mut next);
        [s0, s1, s2]
    }

    /// What the reset's diff records through `SortedChanges` is what recording each object into
    /// a `ChangeSummary` gives: random inserts, erases and modifications (scalars and lists), in
    /// key order and shuffled, with a class recorded in two runs.
    #[test]
    fn sorted_changes_build_the_summary_recording_each_object_builds() {
        use crate::schema::{Property, Schema};
        use crate::value::ScalarType;
        let class = |name: &str| {
            ClassSchema::new(
                name,
                "id",
                vec![
                    Property::new("id", ScalarType::Int),
                    Property::new("name", ScalarType::String),
                    Property::new("tags", ScalarType::Int).list(),
                ],
            )
        };
        let schema = Schema::new(vec![class("A"), class("B")]).expect("schema");
        let mut rng = Lcg(5);
        for round in 0..200 {
            // (class, pk, old, new): None old is an insert, None new an erase.
            let mut objects = Vec::new();
            for (ci, runs) in [(0usize, 0..20i64), (1, 0..20), (0, 20..40)] {
                let c = &schema.classes[ci];
                let pks: Vec<i64> = runs.filter(|_| rng.below(3) > 0).collect();
                for pk in pks {
                    let [l0, l1, _] = three_states(&mut rng, edit_list);
                    let state = |name: &str, list: RgaList| {
                        let mut d = ObjectData::new_default(c);
                        d.fields[1] = Field::Value(Value::from(name));
                        d.fields[2] = Field::List(list);
                        d
                    };
                    let old = state("n", l0);
                    let new = state(if rng.below(2) == 0 { "n" } else { "m" }, l1);
                    let (old, new) = match rng.below(4) {
                        0 => (None, Some(new)),
                        1 => (Some(old), None),
                        _ => (Some(old), Some(new)),
                    };
                    objects.push((ci, PrimaryKey::from(pk), old, new));
                }
            }
            if round % 2 == 1 {
                // Out of key order: `from_iter` sorts what is not sorted.
                for i in (1..objects.len()).rev() {
                    objects.swap(i, rng.below(i + 1));
                }
            }
            let mut expected = ChangeSummary::default();
            let mut sorted = SortedChanges::default();
            for (ci, pk, old, new) in &objects {
                let c = &schema.classes[*ci];
                match (old, new) {
                    (None, _) => {
                        expected.record_insert(&c.name, pk);
                        sorted.record_insert(&c.name, pk);
                    }
                    (_, None) => {
                        expected.record_erase(&c.name, pk);
                        sorted.record_erase(&c.name, pk);
                    }
                    (Some(o), Some(n)) => {
                        expected.record_object(c, pk, o, n);
                        sorted.record_object(c, pk, o, n);
                    }
                }
            }
            let mut built = ChangeSummary::default();
            built.merge_sorted(sorted);
            assert_eq!(built, expected, "round {round}");
        }
    }

    #[test]
    fn list_changes_composed_equal_the_changes_of_both_steps_at_once() {
        let mut rng = Lcg(7);
        for _ in 0..2000 {
            let [l0, l1, l2] = three_states(&mut rng, edit_list);
            let composed = compose_list(&list_changes(&l0, &l1), &list_changes(&l1, &l2));
            assert_eq!(composed, list_changes(&l0, &l2), "{l0:?} -> {l1:?} -> {l2:?}");
        }
    }

    #[test]
    fn list_changes_of_lists_with_the_same_elements_take_the_short_walk_to_the_same_result() {
        let mut rng = Lcg(3);
        let mut walked = 0;
        for _ in 0..2000 {
            let [l0, mut l1, _] = three_states(&mut rng, edit_list);
            // Without the inserted elements only sets and erases are left: the same elements,
            // tombstones included.
            l1.elems.retain(|e| l0.elems.iter().any(|o| o.id == e.id));
            if l1.elems.len() == l0.elems.len() {
                walked += 1;
                assert_eq!(same_elements_changes(&l0, &l1), changes_by_id(&l0, &l1), "{l0:?} -> {l1:?}");
            }
        }
        assert!(walked > 1000, "{walked}");
    }

    #[test]
    fn list_changes_follow_realm_index_rules() {
        let id = |l| ElemId { lamport: l, peer: 1 };
        let mut old = RgaList::default();
        for (l, v) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
            old.integrate_insert(id(l), if l == 1 { None } else { Some(id(l - 1)) }, v.into());
        }
        let mut new = old.clone();
        new.erase(id(2));
        new.set(id(4), "D".into());
        new.integrate_insert(id(9), None, "z".into());
        // Deleted: old positions; inserted and modified: new positions.
        assert_eq!(list_changes(&old, &new), Changed { deleted: vec![1], inserted: vec![0], modified: vec![3] });
        // Two replicas that disagree on the order of shared elements: the one out of order moved.
        let swapped = RgaList { elems: vec![old.elems[1].clone(), old.elems[0].clone()] };
        let first_two = RgaList { elems: old.elems[..2].to_vec() };
        assert_eq!(list_changes(&first_two, &swapped), Changed { deleted: vec![0], inserted: vec![1], modified: vec![] });
    }

    #[test]
    fn keyed_changes_composed_equal_the_changes_of_both_steps_at_once() {
        let mut rng = Lcg(11);
        let edit = |d: &mut BTreeMap<String, Value>, rng: &mut Lcg, next: &mut i64| {
            for _ in 0..rng.below(6) {
                *next += 1;
                let key = format!("k{}", rng.below(5));
                if rng.below(3) == 0 {
                    d.remove(&key);
                } else {
                    d.insert(key, Value::Int(*next));
                }
            }
        };
        for _ in 0..2000 {
            let [f0, f1, f2] = three_states(&mut rng, edit).map(Field::Dict);
            let step = |a: &Field, b: &Field| match CollectionChanges::between(a, b) {
                Some(CollectionChanges::Dictionary(c)) => c,
                _ => Changed::default(),
            };
            assert_eq!(compose_keyed(step(&f0, &f1), step(&f1, &f2), true), step(&f0, &f2), "{f0:?} -> {f1:?} -> {f2:?}");
            // The same keys as set elements (a set element has no value to modify).
            let set = |f: &Field| match f {
                Field::Dict(d) => Field::Set(d.keys().map(|k| Value::from(k.as_str())).collect()),
                other => other.clone(),
            };
            let (s0, s1, s2) = (set(&f0), set(&f1), set(&f2));
            let step = |a: &Field, b: &Field| match CollectionChanges::between(a, b) {
                Some(CollectionChanges::Set(c)) => c,
                _ => Changed::default(),
            };
            assert_eq!(compose_keyed(step(&s0, &s1), step(&s1, &s2), false), step(&s0, &s2));
        }
    }

    #[test]
    fn merge_composes_collection_changes_and_pending_edits_of_both_summaries() {
        let pk = PrimaryKey::from(1);
        let list_of = |vals: &[(u64, &str)]| {
            let mut l = RgaList::default();
            let mut prev = None;
            for (lamport, v) in vals {
                let id = ElemId { lamport: *lamport, peer: 1 };
                l.integrate_insert(id, prev, (*v).into());
                prev = Some(id);
            }
            Field::List(l)
        };
        let l0 = list_of(&[(1, "a"), (2, "b")]);
        let l1 = list_of(&[(1, "a"), (2, "b"), (3, "c")]);
        let l2 = list_of(&[(2, "b"), (3, "c")]);
        let mut first = ChangeSummary::default();
        first.note_collection_edit("Item", &pk, "tags", Some(l0), l1.clone());
        let mut later = ChangeSummary::default();
        later.record_field("Item", &pk, "tags", &l1, &l2);
        first.merge(&later);
        first.resolve_pending();
        let item = &first.classes["Item"];
        assert_eq!(
            item.collection(&pk, "tags"),
            Some(&CollectionChanges::List(Changed { deleted: vec![0], inserted: vec![1], modified: vec![] }))
        );
        // An erase later in the same summary leaves no collection changes behind.
        first.record_erase("Item", &pk);
        assert!(first.classes["Item"].collections.is_empty());
    }
}
