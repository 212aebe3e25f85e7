//! Tells the integration tests whether a headless browser can run here: `vanta_browser` is set
//! when Chromium (`VANTA_CHROMIUM`, default `/usr/bin/chromium`) and the npm package
//! `playwright-core` are installed (`make test` installs both). Without them the browser test
//! is reported as ignored, with the reason, never as passed.
//!
//! Likewise `vanta_sdk` is set when `.venv/bin/python` exists and the official Veranta SDK
//! (`veranta_sdk`, installed by `make test`) is in the venv's site-packages; without it the
//! SDK-against-fake test is reported as ignored.

use std::path::Path;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(vanta_browser)");
    println!("cargo:rustc-check-cfg=cfg(vanta_sdk)");
    println!("cargo:rerun-if-env-changed=VANTA_CHROMIUM");
    let chromium = std::env::var("VANTA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned());
    let driver = Path::new(&root).join("../node_modules/playwright-core/package.json");
    println!("cargo:rerun-if-changed={chromium}");
    println!("cargo:rerun-if-changed={}", driver.display());
    if Path::new(&chromium).exists() && driver.exists() {
        println!("cargo:rustc-cfg=vanta_browser");
    }
    sdk_cfg(Path::new(&root));
}

/// Sets `vanta_sdk` when the venv's Python has `veranta_sdk` in its site-packages.
fn sdk_cfg(root: &Path) {
    let venv = root.join("../.venv");
    let lib = venv.join("lib");
    println!("cargo:rerun-if-changed={}", lib.display());
    let python = venv.join("bin/python");
    let Ok(entries) = std::fs::read_dir(&lib) else { return };
    let mut found = false;
    for entry in entries.flatten() {
        let site = entry.path().join("site-packages");
        if site.is_dir() {
            println!("cargo:rerun-if-changed={}", site.display());
            found |= site.join("veranta_sdk/__init__.py").exists();
        }
    }
    if found && python.exists() {
        println!("cargo:rustc-cfg=vanta_sdk");
    }
}
