//! Client reset. The pipeline lives in `pipeline.rs` and reads top to bottom.

/// What to do with unsynced changes when the server demands a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientResetMode {
    Manual,
    DiscardUnsyncedChanges,
    RecoverUnsyncedChanges,
    #[default]
    RecoverOrDiscardUnsyncedChanges,
}

/// The client-reset part of a sync configuration.
#[derive(Clone, Default)]
pub struct ClientResetConfig {
    pub mode: ClientResetMode,
    pub backup_dir: Option<std::path::PathBuf>,
}
