// Exposes the resolved yamux crate version (from Cargo.lock) as YAMUX_VERSION
// for the lib= key of the RESULT line.
fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut version = String::from("unknown");
    let mut in_yamux = false;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            in_yamux = false;
        } else if line == "name = \"yamux\"" {
            in_yamux = true;
        } else if in_yamux && line.starts_with("version = ") {
            version = line.trim_start_matches("version = ").trim_matches('"').to_string();
            break;
        }
    }
    println!("cargo:rustc-env=YAMUX_VERSION={version}");
}
