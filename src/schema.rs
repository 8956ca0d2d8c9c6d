//! The schema: classes, properties, validation, and the one additive/breaking classifier that
//! opening a realm, sync and client reset all use.

use crate::error::{Error, Result};
use crate::value::{PrimaryKey, ScalarType, Value};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One property of a class. Serialized as a map by field name (see the `Serialize` impl), so
/// fields can be appended: records written before a field existed decode with its default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ScalarType,
    /// A list of `kind` values (for links: a list of links).
    #[serde(default)]
    pub list: bool,
    /// Whether the value (or, for lists, each element) may be null.
    #[serde(default)]
    pub optional: bool,
    /// Target class of a link or list of links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// An int that is a counter: besides being set, it takes `add(n)`, which merges additively
    /// (both sides' increments survive, in sync and in recovery). JSON: `"counter": true`.
    /// Left out of the JSON when false, so schemas stored before counters read back equal.
    #[serde(default)]
    pub counter: bool,
    /// A set of `kind` values (for links: of links): add and remove per element, no order, no
    /// duplicates. JSON: `"set": true`.
    #[serde(default)]
    pub set: bool,
    /// A dictionary from string keys to `kind` values (for links: optional, a link to an erased
    /// object becomes null). JSON: `"dictionary": true`.
    #[serde(default)]
    pub dictionary: bool,
}

/// By name, never by position: MessagePack (changesets, the protocol) would otherwise encode a
/// struct as an array, where an absent `target` shifts every field after it. Fields added after
/// `optional` are written only when set, so the JSON of schemas without them is unchanged.
impl Serialize for Property {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let len = 4 + usize::from(self.target.is_some()) + usize::from(self.counter) + usize::from(self.set) + usize::from(self.dictionary);
        let mut m = s.serialize_map(Some(len))?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("type", &self.kind)?;
        m.serialize_entry("list", &self.list)?;
        m.serialize_entry("optional", &self.optional)?;
        if let Some(t) = &self.target {
            m.serialize_entry("target", t)?;
        }
        if self.counter {
            m.serialize_entry("counter", &true)?;
        }
        if self.set {
            m.serialize_entry("set", &true)?;
        }
        if self.dictionary {
            m.serialize_entry("dictionary", &true)?;
        }
        m.end()
    }
}

impl Property {
    pub fn new(name: &str, kind: ScalarType) -> Self {
        Property { name: name.to_string(), kind, list: false, optional: false, target: None, counter: false, set: false, dictionary: false }
    }
    /// An int counter (see `counter`).
    pub fn counter(name: &str) -> Self {
        Property { counter: true, ..Property::new(name, ScalarType::Int) }
    }
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    pub fn list(mut self) -> Self {
        self.list = true;
        self
    }
    /// A set of `kind` values.
    pub fn set(mut self) -> Self {
        self.set = true;
        self
    }
    /// A set of links to objects of `target`.
    pub fn link_set(name: &str, target: &str) -> Self {
        Property { list: false, set: true, ..Property::link_list(name, target) }
    }
    /// A dictionary (string keys) of `kind` values.
    pub fn dictionary(mut self) -> Self {
        self.dictionary = true;
        self
    }
    /// A `mixed` property: null, any scalar, a typed link, or a nested list or dictionary (see
    /// `crate::mixed`). Optional by nature. JSON: `"type": "mixed"`.
    pub fn mixed(name: &str) -> Self {
        Property { optional: true, ..Property::new(name, ScalarType::Mixed) }
    }
    /// Whether the value may be null (a `mixed` always may): such a property can be added to
    /// a class that has objects.
    pub fn is_nullable(&self) -> bool {
        self.optional || self.kind == ScalarType::Mixed
    }
    /// A single `mixed` property: the only place nested collections live.
    pub fn is_single_mixed(&self) -> bool {
        self.kind == ScalarType::Mixed && !self.is_collection()
    }
    /// A list, set or dictionary: edited element by element, never set as a whole.
    pub fn is_collection(&self) -> bool {
        self.list || self.set || self.dictionary
    }
    pub fn link(name: &str, target: &str) -> Self {
        Property {
            name: name.to_string(),
            kind: ScalarType::Link,
            list: false,
            optional: true,
            target: Some(target.to_string()),
            counter: false,
            set: false,
            dictionary: false,
        }
    }
    pub fn link_list(name: &str, target: &str) -> Self {
        Property {
            name: name.to_string(),
            kind: ScalarType::Link,
            list: true,
            optional: false,
            target: Some(target.to_string()),
            counter: false,
            set: false,
            dictionary: false,
        }
    }

    /// Whether `v` may be stored in this property (or as an element of this list).
    pub fn accepts(&self, v: &Value) -> bool {
        if self.kind == ScalarType::Mixed {
            // A mixed has no target class in the schema, so a link in it names its class.
            return !matches!(v, Value::Link(_));
        }
        if matches!(v, Value::TypedLink(..)) {
            return false;
        }
        match v.scalar_type() {
            None => self.optional && !(self.is_collection() && self.kind == ScalarType::Link),
            Some(t) => t == self.kind,
        }
    }

    fn describe(&self) -> String {
        let mut s = if self.counter { "counter".to_string() } else { self.kind.name().to_string() };
        if let Some(t) = &self.target {
            s = format!("{s}<{t}>");
        }
        if self.list {
            s = format!("list<{s}>");
        }
        if self.set {
            s = format!("set<{s}>");
        }
        if self.dictionary {
            s = format!("dictionary<string, {s}>");
        }
        if self.optional {
            s.push('?');
        }
        s
    }
}

/// One class: a name, its primary-key property and its properties (the primary key included).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassSchema {
    pub name: String,
    /// Empty for an embedded class (it has none).
    #[serde(default)]
    pub primary_key: String,
    pub properties: Vec<Property>,
    /// An embedded class: its objects have no primary key and live inside one parent object
    /// (a link property, or a list of links, whose target is this class). JSON:
    /// `"embedded": true`. Written only when set (last, so MessagePack's positional form of a
    /// class without it is what it was).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub embedded: bool,
    #[serde(skip)]
    index: HashMap<String, usize>,
    /// The property names, shared: change summaries record thousands of them in a reset, and a
    /// shared name is counted, not copied.
    #[serde(skip)]
    shared_names: Vec<Arc<str>>,
}

impl PartialEq for ClassSchema {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.primary_key == o.primary_key && self.properties == o.properties && self.embedded == o.embedded
    }
}

impl ClassSchema {
    pub fn new(name: &str, primary_key: &str, properties: Vec<Property>) -> Self {
        let mut c = ClassSchema {
            name: name.to_string(),
            primary_key: primary_key.to_string(),
            properties,
            embedded: false,
            index: HashMap::new(),
            shared_names: Vec::new(),
        };
        c.reindex();
        c
    }

    /// An embedded class (no primary key; see `embedded`).
    pub fn embedded(name: &str, properties: Vec<Property>) -> Self {
        ClassSchema { embedded: true, ..ClassSchema::new(name, "", properties) }
    }

    fn reindex(&mut self) {
        self.index = self.properties.iter().enumerate().map(|(i, p)| (p.name.clone(), i)).collect();
        self.shared_names = self.properties.iter().map(|p| Arc::from(p.name.as_str())).collect();
    }

    /// The name of property `i`, shared (see `shared_names`).
    pub fn shared_name(&self, i: usize) -> Arc<str> {
        match self.shared_names.get(i) {
            Some(name) => name.clone(),
            None => Arc::from(self.properties[i].name.as_str()),
        }
    }

    pub fn property_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn property(&self, name: &str) -> Result<(usize, &Property)> {
        self.property_index(name).map(|i| (i, &self.properties[i])).ok_or_else(|| Error::unknown_property(&self.name, name))
    }

    pub fn primary_key_index(&self) -> usize {
        self.property_index(&self.primary_key).unwrap_or(0)
    }

    pub fn primary_key_type(&self) -> ScalarType {
        self.properties[self.primary_key_index()].kind
    }

    /// Checks that `pk` has this class's primary-key type.
    pub fn check_pk(&self, pk: &PrimaryKey) -> Result<()> {
        if self.embedded {
            return Err(Error::InvalidArgument(format!(
                "'{}' is an embedded class: its objects have no primary key and are reached through their parent",
                self.name
            )));
        }
        if pk.scalar_type() != self.primary_key_type() {
            return Err(Error::TypeMismatch(format!(
                "primary key of '{}' is {}, got {}",
                self.name,
                self.primary_key_type().name(),
                pk.scalar_type().name()
            )));
        }
        Ok(())
    }
}

/// A validated schema. Class order is the storage order: classes and properties are only ever
/// appended, so their indexes are stable in a realm file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Schema {
    pub classes: Vec<ClassSchema>,
    #[serde(skip)]
    index: HashMap<String, usize>,
    /// Per class, per property: the index of the class its links point to (None: not a link).
    /// Resolved once here, because following links per object by name cost a hash each time.
    #[serde(skip)]
    link_targets: Vec<Vec<Option<usize>>>,
}

impl PartialEq for Schema {
    fn eq(&self, o: &Self) -> bool {
        self.classes == o.classes
    }
}

/// One additive schema change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AdditiveChange {
    AddClass(ClassSchema),
    AddProperty { class: String, property: Property },
}

/// The result of comparing a stored schema with a new one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaDiff {
    pub additive: Vec<AdditiveChange>,
    /// One human-readable line per breaking difference.
    pub breaking: Vec<String>,
}

impl SchemaDiff {
    pub fn is_breaking(&self) -> bool {
        !self.breaking.is_empty()
    }
    pub fn is_empty(&self) -> bool {
        self.additive.is_empty() && self.breaking.is_empty()
    }
}

impl Schema {
    /// Builds and validates a schema.
    pub fn new(classes: Vec<ClassSchema>) -> Result<Self> {
        let mut s = Schema { classes, index: HashMap::new(), link_targets: Vec::new() };
        s.reindex();
        s.validate()?;
        Ok(s)
    }

    /// Parses the JSON form: `{"classes":[{"name":..,"primaryKey":..,"properties":[{"name":..,"type":..,"list":..,"optional":..,"target":..}]}]}`.
    pub fn from_json(json: &str) -> Result<Self> {
        let s: Schema = serde_json::from_str(json).map_err(|e| Error::InvalidSchema(format!("schema JSON: {e}")))?;
        Schema::new(s.classes)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn reindex(&mut self) {
        for c in &mut self.classes {
            c.reindex();
        }
        self.index = self.classes.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        self.link_targets = self
            .classes
            .iter()
            .map(|c| c.properties.iter().map(|p| p.target.as_deref().and_then(|t| self.index.get(t).copied())).collect())
            .collect();
    }

    /// The index of the class that property `property` of class `class` links to (None: the
    /// property is not a link, or either index is out of range).
    pub fn link_target(&self, class: usize, property: usize) -> Option<usize> {
        self.link_targets.get(class).and_then(|props| props.get(property).copied().flatten())
    }

    /// Whether `class` names an embedded class.
    pub fn is_embedded(&self, class: &str) -> bool {
        self.class_index(class).is_some_and(|i| self.classes[i].embedded)
    }

    /// Whether `p` holds embedded objects (a link, or list of links, to an embedded class).
    pub fn is_embedded_property(&self, p: &Property) -> bool {
        p.target.as_deref().is_some_and(|t| self.is_embedded(t))
    }

    /// Whether any property links to `class` (if none does, its objects have no backlinks). A
    /// `mixed` property may link to any class.
    pub fn is_link_target(&self, class: &str) -> bool {
        self.classes.iter().flat_map(|c| &c.properties).any(|p| p.target.as_deref() == Some(class) || p.kind == ScalarType::Mixed)
    }

    pub fn class_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn class(&self, name: &str) -> Result<(usize, &ClassSchema)> {
        self.class_index(name).map(|i| (i, &self.classes[i])).ok_or_else(|| Error::UnknownClass(name.to_string()))
    }

    fn validate(&self) -> Result<()> {
        let bad = |c: &str, p: Option<&str>, why: &str| {
            Err(Error::InvalidSchema(match p {
                Some(p) => format!("class '{c}', property '{p}': {why}"),
                None => format!("class '{c}': {why}"),
            }))
        };
        let mut names = HashSet::new();
        for c in &self.classes {
            if c.name.is_empty() {
                return bad("", None, "a class needs a name");
            }
            if !names.insert(c.name.as_str()) {
                return bad(&c.name, None, "duplicate class name");
            }
            let mut props = HashSet::new();
            for p in &c.properties {
                if p.name.is_empty() {
                    return bad(&c.name, Some(""), "a property needs a name");
                }
                if !props.insert(p.name.as_str()) {
                    return bad(&c.name, Some(&p.name), "duplicate property name");
                }
                match (&p.kind, &p.target) {
                    (ScalarType::Link, None) => return bad(&c.name, Some(&p.name), "a link needs a target class"),
                    (ScalarType::Link, Some(t)) if !self.index.contains_key(t) => {
                        return bad(&c.name, Some(&p.name), &format!("link to unknown class '{t}'"));
                    }
                    (ScalarType::Link, Some(_)) if !p.is_collection() && !p.optional => {
                        return bad(&c.name, Some(&p.name), "a single link must be optional (it becomes null when its target is erased)");
                    }
                    (ScalarType::Link, Some(_)) if p.dictionary && !p.optional => {
                        return bad(
                            &c.name,
                            Some(&p.name),
                            "a dictionary of links must be optional (a link becomes null when its target is erased)",
                        );
                    }
                    (ScalarType::Link, Some(_)) if (p.list || p.set) && p.optional => {
                        return bad(&c.name, Some(&p.name), "a list or set of links cannot hold nulls");
                    }
                    (k, Some(_)) if *k != ScalarType::Link => {
                        return bad(&c.name, Some(&p.name), "only links have a target class");
                    }
                    _ => {}
                }
                if p.counter && (p.kind != ScalarType::Int || p.is_collection()) {
                    return bad(&c.name, Some(&p.name), "only a single int can be a counter");
                }
                if usize::from(p.list) + usize::from(p.set) + usize::from(p.dictionary) > 1 {
                    return bad(&c.name, Some(&p.name), "a property is one of list, set or dictionary, not several");
                }
                crate::embedded::validate_embedded_property(self, c, p)?;
            }
            if c.embedded {
                crate::embedded::validate_embedded_class(self, c)?;
                continue;
            }
            if c.primary_key.is_empty() {
                return bad(&c.name, None, "a class needs a primary key");
            }
            let Some(pk) = c.properties.iter().find(|p| p.name == c.primary_key) else {
                return bad(&c.name, Some(&c.primary_key), "the primary key names no property of the class");
            };
            if pk.is_collection() {
                return bad(&c.name, Some(&pk.name), "a list or set cannot be the primary key");
            }
            if !pk.kind.is_primary_key_type() {
                return bad(
                    &c.name,
                    Some(&pk.name),
                    &format!("a primary key must be int, string, objectId or uuid, not {}", pk.kind.name()),
                );
            }
            if pk.optional {
                return bad(&c.name, Some(&pk.name), "a primary key cannot be optional");
            }
            if pk.counter {
                return bad(&c.name, Some(&pk.name), "a primary key cannot be a counter");
            }
        }
        Ok(())
    }

    /// Compares `self` (stored) with `new` (wanted). New classes and new optional properties (or
    /// new lists) are additive; everything else, including removals, is breaking.
    pub fn diff(&self, new: &Schema) -> SchemaDiff {
        let mut d = SchemaDiff::default();
        for old_c in &self.classes {
            let Some(new_c) = new.class_index(&old_c.name).map(|i| &new.classes[i]) else {
                d.breaking.push(format!("class '{}' was removed", old_c.name));
                continue;
            };
            if old_c.embedded != new_c.embedded {
                d.breaking.push(format!("class '{}': embedded changed from {} to {}", old_c.name, old_c.embedded, new_c.embedded));
            }
            if old_c.primary_key != new_c.primary_key {
                d.breaking
                    .push(format!("class '{}': primary key changed from '{}' to '{}'", old_c.name, old_c.primary_key, new_c.primary_key));
            }
            for op in &old_c.properties {
                match new_c.property_index(&op.name).map(|i| &new_c.properties[i]) {
                    None => d.breaking.push(format!("class '{}': property '{}' was removed", old_c.name, op.name)),
                    Some(np) if np != op => d.breaking.push(format!(
                        "class '{}', property '{}': changed from {} to {}",
                        old_c.name,
                        op.name,
                        op.describe(),
                        np.describe()
                    )),
                    Some(_) => {}
                }
            }
            for np in &new_c.properties {
                if old_c.property_index(&np.name).is_none() {
                    if np.is_nullable() || np.is_collection() {
                        d.additive.push(AdditiveChange::AddProperty { class: old_c.name.clone(), property: np.clone() });
                    } else {
                        d.breaking.push(format!(
                            "class '{}': new property '{}' is required ({}); only optional properties can be added",
                            old_c.name,
                            np.name,
                            np.describe()
                        ));
                    }
                }
            }
        }
        for new_c in &new.classes {
            if self.class_index(&new_c.name).is_none() {
                d.additive.push(AdditiveChange::AddClass(new_c.clone()));
            }
        }
        d
    }

    /// Applies additive changes, appending so existing indexes stay valid.
    pub fn apply_additive(&self, changes: &[AdditiveChange]) -> Result<Schema> {
        let mut classes = self.classes.clone();
        for ch in changes {
            match ch {
                AdditiveChange::AddClass(c) => {
                    if !classes.iter().any(|x| x.name == c.name) {
                        classes.push(c.clone());
                    }
                }
                AdditiveChange::AddProperty { class, property } => {
                    let c = classes.iter_mut().find(|c| &c.name == class).ok_or_else(|| Error::UnknownClass(class.clone()))?;
                    if !c.properties.iter().any(|p| p.name == property.name) {
                        c.properties.push(property.clone());
                    }
                }
            }
        }
        Schema::new(classes)
    }
}
