//! Change summaries (what one commit changed) and the observers that receive them.

use crate::value::PrimaryKey;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};

/// What one commit changed in one class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassChanges {
    pub inserted: BTreeSet<PrimaryKey>,
    pub erased: BTreeSet<PrimaryKey>,
    /// Objects that existed before and after the commit, with the properties that changed.
    pub modified: BTreeMap<PrimaryKey, BTreeSet<String>>,
}

impl ClassChanges {
    pub fn is_empty(&self) -> bool {
        self.inserted.is_empty() && self.erased.is_empty() && self.modified.is_empty()
    }
}

/// What one commit changed, by class name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSummary {
    pub classes: BTreeMap<String, ClassChanges>,
}

impl ChangeSummary {
    pub fn is_empty(&self) -> bool {
        self.classes.values().all(ClassChanges::is_empty)
    }

    fn class_mut(&mut self, class: &str) -> &mut ClassChanges {
        if !self.classes.contains_key(class) {
            self.classes.insert(class.to_string(), ClassChanges::default());
        }
        self.classes.get_mut(class).expect("just inserted")
    }

    pub fn record_insert(&mut self, class: &str, pk: &PrimaryKey) {
        let c = self.class_mut(class);
        c.inserted.insert(pk.clone());
    }

    /// An object created in this same commit and erased again leaves no trace.
    pub fn record_erase(&mut self, class: &str, pk: &PrimaryKey) {
        let c = self.class_mut(class);
        c.modified.remove(pk);
        if !c.inserted.remove(pk) {
            c.erased.insert(pk.clone());
        }
    }

    /// Modifications of objects inserted in this commit are part of the insertion.
    pub fn record_modify(&mut self, class: &str, pk: &PrimaryKey, prop: &str) {
        let c = self.class_mut(class);
        if c.inserted.contains(pk) {
            return;
        }
        c.modified.entry(pk.clone()).or_default().insert(prop.to_string());
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
            if !oc.is_empty() {
                out.classes.insert(class.to_string(), oc);
            }
        }
        out
    }

    /// Merges a later commit's changes into this one (used where one logical change spans
    /// several steps).
    pub fn merge(&mut self, later: &ChangeSummary) {
        for (class, c) in &later.classes {
            for pk in &c.erased {
                self.record_erase(class, pk);
            }
            for pk in &c.inserted {
                self.record_insert(class, pk);
            }
            for (pk, props) in &c.modified {
                for p in props {
                    self.record_modify(class, pk, p);
                }
            }
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
