//! Tells the golden-vector tests where the reference data is: `VANTA_SHARED_AVANTIS` is the
//! directory (`$VANTA_SHARED_DIR/avantis`, by default `../shared/avantis` beside the repository)
//! and `vanta_shared` is set when it exists. Without it those tests are reported as ignored, with
//! the reason, never as passed.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rustc-check-cfg=cfg(vanta_shared)");
    println!("cargo:rerun-if-env-changed=VANTA_SHARED_DIR");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned());
    let shared = match std::env::var_os("VANTA_SHARED_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(&manifest).join("../../../shared"),
    };
    let avantis = shared.join("avantis");
    // Watch the data (or the directory it would appear in); when neither exists, only this
    // script and `VANTA_SHARED_DIR` rerun it.
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(p) = [avantis.as_path(), shared.as_path()].into_iter().find(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    println!("cargo:rustc-env=VANTA_SHARED_AVANTIS={}", avantis.display());
    if avantis.is_dir() {
        println!("cargo:rustc-cfg=vanta_shared");
    }
}
