//! The C ABI (the only extern "C" code of the crate). See include/driftsync.h.
