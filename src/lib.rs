//! driftsync: an offline-first object database core that syncs and survives client resets.
//! See docs/ARCHITECTURE.md for the map of modules.

pub mod batch_statement;
pub mod changeset;
pub mod config;
pub mod embedded;
pub mod error;
pub mod ffi;
pub mod list;
pub mod mixed;
pub mod notify;
pub mod overlay;
pub mod protocol;
pub mod realm;
pub mod reconcile;
pub mod reset;
pub mod rules;
pub mod schema;
pub mod state;
pub mod store;
pub mod sync;
pub mod sync_meta;
pub mod value;
pub mod wal_writes;

pub use changeset::{Changeset, ElemId, Instruction};
pub use config::{RealmConfig, SyncConfig};
pub use embedded::EmbeddedObject;
pub use error::{Error, ErrorCode, Result};
pub use mixed::{Mixed, MixedInput, MixedKey};
pub use notify::{
    ChangeSummary, Changed, ClassChanges, CollectionChanges, CollectionsChanged, NotificationToken, ObserverScope, PropertyNames,
};
pub use realm::{FieldValue, Object, Realm};
pub use reset::{ClientResetConfig, ClientResetMode};
pub use schema::{ClassSchema, Property, Schema};
pub use value::{ObjectId, PrimaryKey, ScalarType, Timestamp, Uuid, Value};
