//! The standard library: `.wmap` modules embedded in the binary, loaded by
//! the same loader as user files (`use "std/NAME"`).

/// `(name, text)` of every stdlib module.
pub const MODULES: &[(&str, &str)] = &[
    ("std/torch", include_str!("../stdlib/torch.wmap")),
    ("std/rotary", include_str!("../stdlib/rotary.wmap")),
    ("std/norm", include_str!("../stdlib/norm.wmap")),
    ("std/qkv", include_str!("../stdlib/qkv.wmap")),
];

/// The text of stdlib module `name` (as written after `use`, e.g. `std/torch`).
pub fn get(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".wmap").unwrap_or(name);
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
