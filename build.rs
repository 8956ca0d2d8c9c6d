//! Link settings of the shared library (cdylib) on Linux and other ELF platforms: its SONAME is
//! `libdriftsync.so.<ABI version>` (the number of `DRIFTSYNC_ABI_VERSION`, bumped when the C ABI
//! breaks), and the version script `driftsync.map` exports only the `driftsync_*` functions.

/// Must equal `ffi::ABI_VERSION`: scripts/install.sh refuses a library whose SONAME does not
/// carry the header's `DRIFTSYNC_ABI_VERSION`.
const ABI_VERSION: u32 = 1;

fn main() {
    println!("cargo:rerun-if-changed=driftsync.map");
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(os.as_str(), "linux" | "android" | "freebsd" | "netbsd" | "openbsd") {
        let map = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("driftsync.map");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdriftsync.so.{ABI_VERSION}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={}", map.display());
    }
}
