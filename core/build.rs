//! Rebuild plaza-core when the bundled `content/` folder changes (it is compiled in with `include_dir!`, which
//! cannot tell Cargo about files added or removed).
fn main() {
    println!("cargo:rerun-if-changed=../content");
}
