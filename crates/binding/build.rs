//! napi-build: the linker arguments a Node-API cdylib needs on this platform; and
//! `cfg(io_uring_engine)`, set when the engine is built — the cargo feature `io-uring`
//! (on by default) on Linux — so the code says one name instead of the pair.
fn main() {
    napi_build::setup();
    println!("cargo::rustc-check-cfg=cfg(io_uring_engine)");
    let feature = std::env::var_os("CARGO_FEATURE_IO_URING").is_some();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if feature && linux {
        println!("cargo::rustc-cfg=io_uring_engine");
    }
}
