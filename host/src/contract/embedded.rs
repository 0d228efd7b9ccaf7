//! The first-party components compiled into the binary (see `host/build.rs`):
//! found by name after the connector directories, compiled into the cache
//! on first use, so an installed `rapidbyte` needs nothing beside it.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Where an embedded component is said to come from (its path in messages).
pub const ORIGIN: &str = "<built in>";

/// The embedded component with this file name (`source_postgres.wasm`).
pub fn find(file: &str) -> Option<&'static [u8]> {
    EMBEDDED.iter().find(|(name, _)| *name == file).map(|(_, bytes)| *bytes)
}

/// The file names of the embedded components.
pub fn names() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(name, _)| *name)
}
