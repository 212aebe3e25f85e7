//! Tells the integration tests whether a headless browser can run here: `vanta_browser` is set
//! when Chromium (`VANTA_CHROMIUM`, default `/usr/bin/chromium`) and the npm package
//! `playwright-core` are installed (`make test` installs both). Without them the browser test
//! is reported as ignored, with the reason, never as passed.

use std::path::Path;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(vanta_browser)");
    println!("cargo:rerun-if-env-changed=VANTA_CHROMIUM");
    let chromium = std::env::var("VANTA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned());
    let driver = Path::new(&root).join("../node_modules/playwright-core/package.json");
    println!("cargo:rerun-if-changed={chromium}");
    println!("cargo:rerun-if-changed={}", driver.display());
    if Path::new(&chromium).exists() && driver.exists() {
        println!("cargo:rustc-cfg=vanta_browser");
    }
}
