//! The web UI (`web/dist`, built by `npm run build` in `web/`) is embedded into the
//! binary by `src/ui.rs`. On a fresh clone it has not been built yet: create the empty
//! directory so the crate still compiles, and the server serves a placeholder page that
//! says how to build the UI. `scripts/serve` and `scripts/test` build it first.

use std::path::Path;

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist");
    if !dist.exists() {
        std::fs::create_dir_all(&dist).expect("create web/dist");
    }
    if !dist.join("index.html").exists() {
        println!(
            "cargo::warning=web/dist has no built UI: berth will serve a placeholder page. \
             Build it with `scripts/serve`, or `npm ci && npm run build` in web/, then rebuild."
        );
    }
    // Re-embed whenever the built UI changes (a directory is scanned recursively).
    println!("cargo::rerun-if-changed=../../web/dist");
    println!("cargo::rerun-if-changed=build.rs");
}
