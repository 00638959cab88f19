//! Release builds embed `ui/dist` (see src/ui.rs); Vite names files by content
//! hash, so a rebuilt UI adds and removes files, which the embedding macro
//! alone would not notice. Watching the folder recompiles this crate then.
//! Debug builds read `ui/dist` at run time and need no rebuild.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo:rerun-if-changed=../../ui/dist");
    }
}
