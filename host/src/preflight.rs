//! Everything checked before a run touches anything: the pipeline file,
//! the connectors it names, and the features it asks of them. Nothing is
//! written until this passes (no state file, no destination table).

use std::path::Path;
use std::sync::Arc;

use rapidbyte_protocol::Role;

use crate::pipeline::PipelineFile;
use crate::run;
use crate::runtime::{LoadedComponent, Runtime};

/// A pipeline ready to run.
pub struct Preflight {
    /// The loaded file.
    pub file: PipelineFile,
    /// The source component.
    pub source: Arc<LoadedComponent>,
    /// The destination component.
    pub destination: Arc<LoadedComponent>,
}

/// Loads `path`, resolves its connectors in `dir` and negotiates features.
pub fn preflight(runtime: &Runtime, dir: &Path, path: &Path) -> miette::Result<Preflight> {
    let file = PipelineFile::load(path)?;
    let source = run::resolve(runtime, dir, Role::Source, &file.source)?;
    let destination = run::resolve(runtime, dir, Role::Destination, &file.destination)?;
    let gaps = run::missing_features(&file, &source, &destination);
    if !gaps.is_empty() {
        let messages: Vec<String> = gaps.into_iter().map(|g| g.message).collect();
        return Err(miette::miette!(
            code = "rapidbyte::config::unsupported_feature",
            help = "choose a mode the connector supports, or another connector (`rapidbyte connectors` lists features)",
            "{}",
            messages.join("\n")
        ));
    }
    Ok(Preflight { file, source, destination })
}
