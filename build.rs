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
        // The linker reads the script from OUT_DIR: an absolute path into the sources would go
        // stale when the same target directory builds an unpacked copy elsewhere (an sdist).
        let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        let map = out_dir.join("driftsync.map");
        std::fs::copy("driftsync.map", &map).expect("driftsync.map beside Cargo.toml");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdriftsync.so.{ABI_VERSION}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={}", map.display());
    }
}
