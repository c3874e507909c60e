//! Places the code the idle daemons run together at the start of faild's and failsh's code,
//! from the lists in `symbol-order/` (written by `bench/symbol-order.sh`).
//!
//! The kernel maps a program's code 64 KiB at a time around each page used, so an idle
//! daemon's resident memory is the number of 64 KiB windows its loop touches: scattered, the
//! 238 KB failsh runs when idle touched 21 windows (1.3 MB), together they need 4 (issue 14:
//! faild + failsh idle at most 5 MB).
//!
//! The lists name the functions as the dist profile's fat LTO build names them (what the
//! Debian package ships), so they are used for that profile only: other builds name most of
//! them otherwise. `FAILOVER_SYMBOL_ORDER=1` uses them in any profile, `=0` in none. Only
//! for x86-64 Linux, where rustc links with lld (GNU ld has no --symbol-ordering-file).

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=FAILOVER_SYMBOL_ORDER");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("symbol-order");
    let target_fits = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64");
    let wanted = match env::var("FAILOVER_SYMBOL_ORDER").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => building_dist_profile(),
    };
    for program in ["faild", "failsh"] {
        let list = dir.join(format!("{program}.txt"));
        println!("cargo:rerun-if-changed={}", list.display());
        if target_fits && wanted && list.is_file() {
            println!(
                "cargo:rustc-link-arg-bin={program}=-Wl,--symbol-ordering-file={}",
                list.display()
            );
            // A name the program no longer has (the daemons changed since the list was
            // written) costs memory, not the build.
            println!("cargo:rustc-link-arg-bin={program}=-Wl,--no-warn-symbol-ordering");
        }
    }
}

/// Cargo tells a build script the profile only as "debug" or "release"; the dist profile is
/// seen in the output directory, `target/dist/build/<package>-<hash>/out`.
fn building_dist_profile() -> bool {
    let Some(out_dir) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        return false;
    };
    out_dir
        .ancestors()
        .nth(3)
        .and_then(Path::file_name)
        .is_some_and(|name| name == "dist")
}
