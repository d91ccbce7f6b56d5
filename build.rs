//! Compiles the small C shim of the libxslt binding (src/render/shim.c) against the system
//! headers, so that struct layouts and variadic callbacks are handled by a C compiler.
fn main() {
    println!("cargo:rerun-if-changed=src/render/shim.c");
    let xslt = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("libxslt")
        .expect("libxslt development files not found: install libxslt1-dev and pkg-config");
    let mut build = cc::Build::new();
    build.file("src/render/shim.c").warnings(true);
    for dir in &xslt.include_paths {
        build.include(dir);
    }
    build.compile("vitrine_xslt_shim");
}
