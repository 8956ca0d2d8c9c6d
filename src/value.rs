//! Values stored in fields, primary keys, and their type tags.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A 12-byte ObjectId (as in BSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectId(pub [u8; 12]);

/// A 16-byte UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Uuid(pub [u8; 16]);

/// A point in time: nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

/// The primary key of an object. One class has one primary-key type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PrimaryKey {
    Int(i64),
    String(String),
    ObjectId(ObjectId),
    Uuid(Uuid),
}

/// A field value. `Link` holds the primary key of the target; the target class comes from the
/// schema. Lists are not values: they are edited with list operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    String(String),
    Binary(Vec<u8>),
    Timestamp(Timestamp),
    ObjectId(ObjectId),
    Uuid(Uuid),
    Link(PrimaryKey),
    // Appended (issue 15): changesets written before it decode unchanged.
    /// A link that names its target class: the only link a `mixed` value can hold (a mixed
    /// property has no target class in the schema).
    TypedLink(String, PrimaryKey),
}

/// The scalar type of a property or of a list's elements.
/// In schema JSON the names are `bool int double string binary timestamp objectId uuid link`
/// (the capitalized forms are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScalarType {
    #[serde(rename = "bool", alias = "Bool")]
    Bool,
    #[serde(rename = "int", alias = "Int")]
    Int,
    #[serde(rename = "double", alias = "Double")]
    Double,
    #[serde(rename = "string", alias = "String")]
    String,
    #[serde(rename = "binary", alias = "Binary")]
    Binary,
    #[serde(rename = "timestamp", alias = "Timestamp")]
    Timestamp,
    #[serde(rename = "objectId", alias = "ObjectId")]
    ObjectId,
    #[serde(rename = "uuid", alias = "Uuid")]
    Uuid,
    #[serde(rename = "link", alias = "Link", alias = "object")]
    Link,
    /// Any value: null, a scalar, a typed link, or (in a single `mixed` property) a nested
    /// list or dictionary. Optional by nature. Appended (issue 15).
    #[serde(rename = "mixed", alias = "Mixed")]
    Mixed,
}

impl ScalarType {
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::Bool => "bool",
            ScalarType::Int => "int",
            ScalarType::Double => "double",
            ScalarType::String => "string",
            ScalarType::Binary => "binary",
            ScalarType::Timestamp => "timestamp",
            ScalarType::ObjectId => "objectId",
            ScalarType::Uuid => "uuid",
            ScalarType::Link => "link",
            ScalarType::Mixed => "mixed",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "bool" => ScalarType::Bool,
            "int" => ScalarType::Int,
            "double" => ScalarType::Double,
            "string" => ScalarType::String,
            "binary" => ScalarType::Binary,
            "timestamp" => ScalarType::Timestamp,
            "objectId" => ScalarType::ObjectId,
            "uuid" => ScalarType::Uuid,
            "link" | "object" => ScalarType::Link,
            "mixed" => ScalarType::Mixed,
            _ => return None,
        })
    }

    /// Whether this type can be a primary key.
    pub fn is_primary_key_type(self) -> bool {
        matches!(self, ScalarType::Int | ScalarType::String | ScalarType::ObjectId | ScalarType::Uuid)
    }
}

impl Value {
    /// The scalar type of a non-null value.
    pub fn scalar_type(&self) -> Option<ScalarType> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => ScalarType::Bool,
            Value::Int(_) => ScalarType::Int,
            Value::Double(_) => ScalarType::Double,
            Value::String(_) => ScalarType::String,
            Value::Binary(_) => ScalarType::Binary,
            Value::Timestamp(_) => ScalarType::Timestamp,
            Value::ObjectId(_) => ScalarType::ObjectId,
            Value::Uuid(_) => ScalarType::Uuid,
            Value::Link(_) | Value::TypedLink(..) => ScalarType::Link,
        })
    }

    pub fn type_name(&self) -> &'static str {
        self.scalar_type().map(ScalarType::name).unwrap_or("null")
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The class and key of a typed link.
    pub fn as_typed_link(&self) -> Option<(&str, &PrimaryKey)> {
        match self {
            Value::TypedLink(c, pk) => Some((c, pk)),
            _ => None,
        }
    }

    pub fn as_link(&self) -> Option<&PrimaryKey> {
        match self {
            Value::Link(pk) => Some(pk),
            _ => None,
        }
    }

    /// Values compare equal for change detection when they are bitwise the same
    /// (so NaN == NaN and 0.0 != -0.0: a rewrite of the same bits is not a change).
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Double(a), Value::Double(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }
}

/// Null: what an erased list element keeps (see `list::RgaList::erase`).
impl Default for Value {
    fn default() -> Self {
        Value::Null
    }
}

impl PrimaryKey {
    pub fn scalar_type(&self) -> ScalarType {
        match self {
            PrimaryKey::Int(_) => ScalarType::Int,
            PrimaryKey::String(_) => ScalarType::String,
            PrimaryKey::ObjectId(_) => ScalarType::ObjectId,
            PrimaryKey::Uuid(_) => ScalarType::Uuid,
        }
    }

    /// Order-preserving byte encoding: memcmp order of the bytes equals key order, so SQLite
    /// iterates a class in primary-key order.
    pub fn to_key_bytes(&self) -> Vec<u8> {
        match self {
            PrimaryKey::Int(i) => {
                let mut v = Vec::with_capacity(9);
                v.push(1);
                v.extend_from_slice(&((*i as u64) ^ (1u64 << 63)).to_be_bytes());
                v
            }
            PrimaryKey::String(s) => {
                let mut v = Vec::with_capacity(1 + s.len());
                v.push(2);
                v.extend_from_slice(s.as_bytes());
                v
            }
            PrimaryKey::ObjectId(o) => {
                let mut v = vec![3];
                v.extend_from_slice(&o.0);
                v
            }
            PrimaryKey::Uuid(u) => {
                let mut v = vec![4];
                v.extend_from_slice(&u.0);
                v
            }
        }
    }

    /// Whether `from_key_bytes` reads `b` (without building the key).
    pub fn is_key_bytes(b: &[u8]) -> bool {
        match b.split_first() {
            Some((1, rest)) => rest.len() == 8,
            Some((2, rest)) => std::str::from_utf8(rest).is_ok(),
            Some((3, rest)) => rest.len() == 12,
            Some((4, rest)) => rest.len() == 16,
            _ => false,
        }
    }

    pub fn from_key_bytes(b: &[u8]) -> Option<PrimaryKey> {
        let (tag, rest) = b.split_first()?;
        Some(match tag {
            1 => PrimaryKey::Int((u64::from_be_bytes(rest.try_into().ok()?) ^ (1u64 << 63)) as i64),
            2 => PrimaryKey::String(String::from_utf8(rest.to_vec()).ok()?),
            3 => PrimaryKey::ObjectId(ObjectId(rest.try_into().ok()?)),
            4 => PrimaryKey::Uuid(Uuid(rest.try_into().ok()?)),
            _ => return None,
        })
    }

    pub fn to_value(&self) -> Value {
        match self {
            PrimaryKey::Int(i) => Value::Int(*i),
            PrimaryKey::String(s) => Value::String(s.clone()),
            PrimaryKey::ObjectId(o) => Value::ObjectId(*o),
            PrimaryKey::Uuid(u) => Value::Uuid(*u),
        }
    }

    pub fn from_value(v: &Value) -> Option<PrimaryKey> {
        Some(match v {
            Value::Int(i) => PrimaryKey::Int(*i),
            Value::String(s) => PrimaryKey::String(s.clone()),
            Value::ObjectId(o) => PrimaryKey::ObjectId(*o),
            Value::Uuid(u) => PrimaryKey::Uuid(*u),
            _ => return None,
        })
    }
}

impl From<i64> for PrimaryKey {
    fn from(i: i64) -> Self {
        PrimaryKey::Int(i)
    }
}
impl From<&str> for PrimaryKey {
    fn from(s: &str) -> Self {
        PrimaryKey::String(s.to_string())
    }
}
impl From<String> for PrimaryKey {
    fn from(s: String) -> Self {
        PrimaryKey::String(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(d: f64) -> Self {
        Value::Double(d)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Display for PrimaryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrimaryKey::Int(i) => write!(f, "{i}"),
            PrimaryKey::String(s) => write!(f, "{s:?}"),
            PrimaryKey::ObjectId(o) => write!(f, "ObjectId({})", hex(&o.0)),
            PrimaryKey::Uuid(u) => write!(f, "UUID({})", hex(&u.0)),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Binary(b) => write!(f, "binary({} bytes)", b.len()),
            Value::Timestamp(t) => write!(f, "timestamp({})", t.0),
            Value::ObjectId(o) => write!(f, "ObjectId({})", hex(&o.0)),
            Value::Uuid(u) => write!(f, "UUID({})", hex(&u.0)),
            Value::Link(pk) => write!(f, "link({pk})"),
            Value::TypedLink(c, pk) => write!(f, "link({c}[{pk}])"),
        }
    }
}
