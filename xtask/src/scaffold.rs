//! `cargo xtask new-connector <source|destination> <name> [--dir <path>]`:
//! scaffolds a connector crate from the templates in `xtask/templates/`.
//!
//! `name` is the connector's short name, the one a pipeline file uses
//! (`use: <name>`). The crate is `source-<name>` or `dest-<name>` (its
//! component `source_<name>.wasm` / `dest_<name>.wasm`, the file the host
//! looks up for `use: <name>`), like every connector in `connectors/`.
//!
//! Without `--dir` the crate goes to `connectors/<crate>/` and is added to
//! the workspace `members` in the root `Cargo.toml` (edited as text; not to
//! `default-members`: `cargo xtask build` builds components one by one for
//! wasm32-wasip2). With `--dir <path>` the crate goes exactly there, outside
//! this repository, as a workspace of its own whose `rapidbyte-sdk`
//! dependency is an absolute path to this repository's `guest-sdk/`.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use crate::cmd::{self, Result};
use crate::connectors;

/// The stream the source template offers (and both subject files name).
const STREAM: &str = "items";

/// Longest accepted connector name.
const MAX_NAME: usize = 40;

/// The role of the connector to scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Destination,
}

impl Role {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "source" => Ok(Self::Source),
            "destination" | "dest" => Ok(Self::Destination),
            other => Err(format!("unknown connector kind `{other}`: expected `source` or `destination`")),
        }
    }

    /// The crate and component prefix (`source-x`, `dest-x`; the host's convention).
    fn prefix(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Destination => "dest",
        }
    }

    /// The SDK feature (and world) of the role.
    fn feature(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Destination => "destination",
        }
    }

    fn type_suffix(self) -> &'static str {
        match self {
            Self::Source => "Source",
            Self::Destination => "Destination",
        }
    }
}

/// Checks a connector name: lowercase ASCII letters, digits and single
/// dashes, starting with a letter, without the role prefix.
pub fn validate_name(name: &str, role: Role) -> Result<()> {
    let hint = "use lowercase letters, digits and dashes, starting with a letter (e.g. `mysql`, `my-api2`)";
    if name.is_empty() {
        return Err(format!("the connector name is empty; {hint}"));
    }
    if name.len() > MAX_NAME {
        return Err(format!("the connector name `{name}` is longer than {MAX_NAME} characters"));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(format!("the connector name `{name}` contains `{bad}`; {hint}"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("the connector name `{name}` must start with a letter; {hint}"));
    }
    if name.ends_with('-') || name.contains("--") {
        return Err(format!("the connector name `{name}` has a trailing or doubled dash; {hint}"));
    }
    let prefixes: &[&str] = match role {
        Role::Source => &["source-"],
        Role::Destination => &["dest-", "destination-"],
    };
    if let Some(p) = prefixes.iter().find(|p| name.starts_with(**p)) {
        return Err(format!(
            "drop the `{p}` prefix: the crate is named `{}-<name>` already (try `{}`)",
            role.prefix(),
            &name[p.len()..]
        ));
    }
    Ok(())
}

/// Where the crate goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `connectors/<crate>` in this workspace (added to `members`).
    Workspace,
    /// Anywhere else, its own workspace; the SDK at this absolute path.
    Standalone { sdk_path: PathBuf },
}

/// Everything the templates need.
#[derive(Debug, Clone)]
pub struct Plan {
    pub role: Role,
    /// The short name (`use: <name>`).
    pub name: String,
    /// The crate: `source-<name>` / `dest-<name>`.
    pub package: String,
    /// The component file: `source_<name>.wasm` / `dest_<name>.wasm`.
    pub wasm: String,
    /// The connector type in `lib.rs`.
    pub type_name: String,
    /// The crate directory.
    pub dir: PathBuf,
    pub layout: Layout,
}

impl Plan {
    pub fn new(role: Role, name: &str, dir: PathBuf, layout: Layout) -> Result<Self> {
        validate_name(name, role)?;
        let package = format!("{}-{name}", role.prefix());
        let camel: String = name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            })
            .collect();
        Ok(Self {
            role,
            name: name.to_owned(),
            wasm: format!("{}.wasm", package.replace('-', "_")),
            package,
            type_name: format!("{camel}{}", role.type_suffix()),
            dir,
            layout,
        })
    }

    /// The files to create, relative to the crate directory.
    pub fn render(&self) -> Result<Vec<(PathBuf, String)>> {
        let (lib, readme, subject, schema) = match self.role {
            Role::Source => (
                include_str!("../templates/source/lib.rs.tmpl"),
                include_str!("../templates/source/README.md.tmpl"),
                include_str!("../templates/source/conformance.yaml.tmpl"),
                include_str!("../templates/source/config.schema.json.tmpl"),
            ),
            Role::Destination => (
                include_str!("../templates/destination/lib.rs.tmpl"),
                include_str!("../templates/destination/README.md.tmpl"),
                include_str!("../templates/destination/conformance.yaml.tmpl"),
                include_str!("../templates/destination/config.schema.json.tmpl"),
            ),
        };
        let description = match self.role {
            Role::Source => format!("Rapidbyte source connector `{}`", self.name),
            Role::Destination => format!("Rapidbyte destination connector `{}` (a null sink until it writes somewhere)", self.name),
        };
        let sdk_path = match &self.layout {
            Layout::Workspace => String::new(),
            Layout::Standalone { sdk_path } => toml_path(sdk_path)?,
        };
        let build = self.build_instructions();
        let vars: [(&str, &str); 10] = [
            ("package", &self.package),
            ("name", &self.name),
            ("use_name", &self.name),
            ("wasm", &self.wasm),
            ("type_name", &self.type_name),
            ("feature", self.role.feature()),
            ("stream", STREAM),
            ("description", &description),
            ("sdk_path", &sdk_path),
            ("build", &build),
        ];
        let mut files = vec![
            (PathBuf::from("src/lib.rs"), render(lib, &vars)?),
            (PathBuf::from("README.md"), render(readme, &vars)?),
            (PathBuf::from("conformance.yaml"), render(subject, &vars)?),
            (PathBuf::from("config.schema.json"), render(schema, &vars)?),
        ];
        match self.layout {
            Layout::Workspace => {
                files.insert(0, ("Cargo.toml".into(), render(include_str!("../templates/common/Cargo.workspace.toml.tmpl"), &vars)?));
            }
            Layout::Standalone { .. } => {
                files.insert(0, ("Cargo.toml".into(), render(include_str!("../templates/common/Cargo.standalone.toml.tmpl"), &vars)?));
                files.push((".cargo/config.toml".into(), render(include_str!("../templates/common/cargo-config.toml.tmpl"), &vars)?));
                files.push((".gitignore".into(), render(include_str!("../templates/common/gitignore.tmpl"), &vars)?));
            }
        }
        Ok(files)
    }

    /// The "build, test, certify" commands (README and the printed next steps).
    pub fn build_instructions(&self) -> String {
        let subject = "conformance.yaml";
        match &self.layout {
            Layout::Workspace => format!(
                "From the repository root:\n\n\
                 ```sh\n\
                 # every connector, this one as target/connectors/{wasm}\n\
                 cargo xtask build\n\
                 # native unit tests\n\
                 cargo test -p {package}\n\
                 # the host binary; it lists the component with name, role and features\n\
                 cargo build -p rapidbyte\n\
                 target/debug/rapidbyte connectors\n\
                 # certify it: protocol cases first, then all\n\
                 target/debug/rapidbyte conformance target/connectors/{wasm} --config connectors/{package}/{subject} --only protocol\n\
                 ```\n\n\
                 Copy `{subject}` to `fixtures/conformance/subjects/{package}.yaml` to include it in `cargo xtask conformance`.",
                wasm = self.wasm,
                package = self.package,
            ),
            Layout::Standalone { sdk_path } => {
                let repo = sdk_path.parent().unwrap_or(sdk_path);
                format!(
                    "In {dir}:\n\n\
                     ```sh\n\
                     # the component: target/wasm32-wasip2/connector/{wasm}\n\
                     # (under $CARGO_TARGET_DIR instead when it is set; CARGO_TARGET_DIR={repo}/target\n\
                     # shares the repository's build cache)\n\
                     cargo build --target wasm32-wasip2 --profile connector\n\
                     # native unit tests\n\
                     cargo test\n\
                     ```\n\n\
                     Then, with the host built in the repository (`cargo build -p rapidbyte` in {repo}),\n\
                     list the component (name, role, features) and certify it against the repository's cases:\n\n\
                     ```sh\n\
                     {repo}/target/debug/rapidbyte connectors --connector-dir target/wasm32-wasip2/connector\n\
                     {repo}/target/debug/rapidbyte conformance target/wasm32-wasip2/connector/{wasm} --config {subject} \\\n\
                     \x20   --cases {repo}/fixtures/conformance --only protocol\n\
                     ```",
                    dir = self.dir.display(),
                    wasm = self.wasm,
                    repo = repo.display(),
                )
            }
        }
    }
}

/// Replaces every `{{key}}`; a placeholder left over is a template bug.
pub fn render(template: &str, vars: &[(&str, &str)]) -> Result<String> {
    let mut out = template.to_owned();
    for (key, value) in vars {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    let mut rest = out.as_str();
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        let key = rest.find("}}").map_or("", |end| &rest[..end]);
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(format!("template placeholder `{{{{{key}}}}}` has no value (xtask bug)"));
        }
    }
    Ok(out)
}

/// A path as a TOML basic-string body (forward slashes, quotes escaped).
fn toml_path(path: &Path) -> Result<String> {
    let text = path.to_str().ok_or_else(|| format!("{} is not valid UTF-8", path.display()))?;
    Ok(text.replace('\\', "/").replace('"', "\\\""))
}

/// Adds `"member"` to the `members = [...]` array of a workspace
/// `Cargo.toml`, keeping the rest of the text as it is. Returns `None` when
/// it is listed already.
pub fn add_member(toml: &str, member: &str) -> Result<Option<String>> {
    let not_found = || "cannot find the `members = [` array of [workspace] in Cargo.toml".to_owned();
    let mut offset = 0;
    let mut open = None;
    for line in toml.split_inclusive('\n') {
        let key = line.split('=').next().unwrap_or_default().trim();
        if key == "members" && line.contains('[') {
            open = Some(offset + line.find('[').expect("checked"));
            break;
        }
        offset += line.len();
    }
    let open = open.ok_or_else(not_found)?;
    let close = open + toml[open..].find(']').ok_or_else(not_found)?;
    let body = &toml[open + 1..close];
    let entry = format!("\"{member}\"");
    if body.contains(&entry) {
        return Ok(None);
    }
    let line_start = toml[..close].rfind('\n').map_or(0, |i| i + 1);
    let mut out = String::with_capacity(toml.len() + entry.len() + 8);
    if toml[line_start..close].trim().is_empty() && line_start > open {
        // Multi-line array: a line of its own before the closing bracket.
        let indent = body.lines().rev().find(|l| !l.trim().is_empty()).map_or("    ", |l| &l[..l.len() - l.trim_start().len()]);
        let indent = if indent.is_empty() { "    " } else { indent };
        out.push_str(&toml[..line_start]);
        out.push_str(&format!("{indent}{entry},\n"));
        out.push_str(&toml[line_start..]);
    } else {
        // One-line array.
        let trimmed = body.trim_end();
        let sep = if trimmed.trim().is_empty() || trimmed.ends_with(',') { "" } else { ", " };
        out.push_str(&toml[..open + 1 + trimmed.len()]);
        out.push_str(sep);
        out.push_str(&entry);
        out.push_str(&toml[close..]);
    }
    Ok(Some(out))
}

/// `path` made absolute (from the current directory) and without `.`/`..`.
fn absolute(path: &Path) -> Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?.join(path)
    };
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

const USAGE: &str = "cargo xtask new-connector <source|destination> <name> [--dir <path>]";

/// `new-connector <source|destination> <name> [--dir <path>]`
pub fn run(args: &[String]) -> Result<ExitCode> {
    let mut positional = Vec::new();
    let mut dir = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dir" => dir = Some(it.next().ok_or_else(|| format!("--dir needs a path\nusage: {USAGE}"))?.clone()),
            a if a.starts_with("--dir=") => dir = Some(a["--dir=".len()..].to_owned()),
            a if a.starts_with('-') => return Err(format!("unknown option `{a}`\nusage: {USAGE}")),
            a => positional.push(a.to_owned()),
        }
    }
    let [kind, name] = positional.as_slice() else {
        return Err(format!("expected a kind and a name, got {positional:?}\nusage: {USAGE}"));
    };
    let role = Role::parse(kind)?;
    validate_name(name, role)?;
    let root = cmd::workspace_root();
    let (dir, layout) = match dir {
        Some(d) => {
            let dir = absolute(Path::new(&d))?;
            if dir.starts_with(&root) {
                return Err(format!(
                    "--dir {} is inside this repository; --dir makes a standalone crate elsewhere. \
                     To add a connector to the workspace, leave --dir out (it goes to connectors/).",
                    dir.display()
                ));
            }
            (dir, Layout::Standalone { sdk_path: root.join("guest-sdk") })
        }
        None => (root.join("connectors").join(format!("{}-{name}", role.prefix())), Layout::Workspace),
    };
    let plan = Plan::new(role, name, dir, layout)?;
    if plan.dir.exists() {
        return Err(format!("{} exists already; not overwriting it (choose another name or --dir)", plan.dir.display()));
    }
    // Workspace: refuse a crate or component name that is taken, and
    // prepare the members edit before writing anything.
    let members_edit = match plan.layout {
        Layout::Workspace => {
            let artifact = plan.wasm.trim_end_matches(".wasm");
            if let Some(c) = connectors::discover(&root)?.into_iter().find(|c| c.package == plan.package || c.artifact == artifact) {
                return Err(format!("a connector named `{}` ({}.wasm) exists already", c.package, c.artifact));
            }
            let manifest = root.join("Cargo.toml");
            let text = fs::read_to_string(&manifest).map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
            add_member(&text, &format!("connectors/{}", plan.package))?.map(|t| (manifest, t))
        }
        Layout::Standalone { .. } => None,
    };
    for (rel, text) in plan.render()? {
        let path = plan.dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some((manifest, text)) = members_edit {
        fs::write(&manifest, text).map_err(|e| format!("cannot update {}: {e}", manifest.display()))?;
    }
    if let Layout::Standalone { .. } = plan.layout {
        // The repository's lock file pins the dependency versions the SDK is
        // built and tested with; cargo drops the entries this crate does not use.
        let _ = fs::copy(root.join("Cargo.lock"), plan.dir.join("Cargo.lock"));
    }
    print_next_steps(&plan);
    Ok(ExitCode::SUCCESS)
}

fn print_next_steps(plan: &Plan) {
    let kind = plan.role.feature();
    println!("Created {kind} connector `{}` in {}", plan.package, plan.dir.display());
    match plan.layout {
        Layout::Workspace => println!(
            "  added \"connectors/{}\" to the workspace members in Cargo.toml (`cargo xtask build` builds it)",
            plan.package
        ),
        Layout::Standalone { ref sdk_path } => {
            println!("  a standalone crate (own [workspace]) using the SDK at {}", sdk_path.display())
        }
    }
    println!("  pipeline files use it as `use: {}` (component {})", plan.name, plan.wasm);
    println!("  starter conformance subject: {}", plan.dir.join("conformance.yaml").display());
    println!();
    println!("Next steps");
    println!();
    for line in plan.build_instructions().lines().filter(|l| !l.starts_with("```")) {
        println!("  {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for ok in ["mysql", "my-api2", "s3", "a"] {
            assert_eq!(validate_name(ok, Role::Source), Ok(()), "{ok}");
        }
        let cases = [
            ("", "empty"),
            ("MySQL", "contains `M`"),
            ("my_sql", "contains `_`"),
            ("my sql", "contains ` `"),
            ("2fast", "start with a letter"),
            ("-x", "start with a letter"),
            ("x-", "trailing or doubled dash"),
            ("a--b", "trailing or doubled dash"),
            ("café", "contains `é`"),
        ];
        for (name, why) in cases {
            let e = validate_name(name, Role::Destination).unwrap_err();
            assert!(e.contains(why), "{name}: {e}");
        }
        assert!(validate_name(&"x".repeat(MAX_NAME + 1), Role::Source).unwrap_err().contains("longer"));
        assert!(validate_name("source-pg", Role::Source).unwrap_err().contains("try `pg`"));
        assert!(validate_name("dest-pg", Role::Destination).unwrap_err().contains("`dest-` prefix"));
        assert_eq!(validate_name("dest-pg", Role::Source), Ok(()), "only the own role's prefix is refused");
        assert!(Role::parse("sink").unwrap_err().contains("`source` or `destination`"));
    }

    #[test]
    fn names_follow_the_host_convention() {
        let p = Plan::new(Role::Destination, "my-db", "/x".into(), Layout::Workspace).unwrap();
        assert_eq!((p.package.as_str(), p.wasm.as_str(), p.type_name.as_str()), ("dest-my-db", "dest_my_db.wasm", "MyDbDestination"));
        let p = Plan::new(Role::Source, "api2", "/x".into(), Layout::Workspace).unwrap();
        assert_eq!((p.package.as_str(), p.wasm.as_str(), p.type_name.as_str()), ("source-api2", "source_api2.wasm", "Api2Source"));
        assert!(Plan::new(Role::Source, "Bad", "/x".into(), Layout::Workspace).is_err());
    }

    #[test]
    fn render_fills_placeholders_and_refuses_leftovers() {
        assert_eq!(render("a {{x}} b {{x}}", &[("x", "1")]).unwrap(), "a 1 b 1");
        assert!(render("{{y}}", &[("x", "1")]).unwrap_err().contains("{{y}}"));
        // Rust's own `{{` escapes are not placeholders.
        assert_eq!(render("format!(\"{{}}\")", &[]).unwrap(), "format!(\"{{}}\")");
        assert!(render("{{}} then {{left_over}}", &[]).is_err());
    }

    fn files(plan: &Plan) -> std::collections::BTreeMap<String, String> {
        plan.render().unwrap().into_iter().map(|(p, t)| (p.to_string_lossy().into_owned(), t)).collect()
    }

    #[test]
    fn workspace_source_template() {
        let plan = Plan::new(Role::Source, "shop-api", "/r/connectors/source-shop-api".into(), Layout::Workspace).unwrap();
        let f = files(&plan);
        assert_eq!(f.keys().map(String::as_str).collect::<Vec<_>>(), ["Cargo.toml", "README.md", "config.schema.json", "conformance.yaml", "src/lib.rs"]);
        for (path, text) in &f {
            assert!(!text.contains("{{package}}") && !text.contains("{{type_name}}"), "{path}");
        }
        assert!(f["Cargo.toml"].contains("name = \"source-shop-api\""));
        assert!(f["Cargo.toml"].contains("rapidbyte-sdk = { workspace = true, features = [\"source\"] }"));
        assert!(f["Cargo.toml"].contains("cdylib"), "xtask build only picks up cdylib crates");
        let lib = &f["src/lib.rs"];
        assert!(lib.contains("struct ShopApiSource {"));
        assert!(lib.contains("export_source!(ShopApiSource, features: [\"incremental\"], config_schema: include_str!(\"../config.schema.json\"))"));
        assert!(f["config.schema.json"].contains(r#""rows": { "type": "integer""#));
        assert!(lib.contains("#[serde(deny_unknown_fields)]"));
        assert!(lib.contains("pub const STREAM: &str = \"items\";"));
        assert!(f["conformance.yaml"].contains("component: source_shop_api.wasm\n"));
        assert!(f["conformance.yaml"].contains("\nconfig: {rows: 20000}\nstream: items\n"));
        assert!(f["conformance.yaml"].contains("\ncase_config:\n  round-trip-types: {config: {rows: 5000}, expect_rows: 5000}\n"));
        assert!(f["README.md"].contains("use: shop-api"));
        assert!(f["README.md"].contains("--only protocol"));
    }

    #[test]
    fn standalone_destination_template() {
        let layout = Layout::Standalone { sdk_path: "/repo/guest-sdk".into() };
        let plan = Plan::new(Role::Destination, "lake", "/tmp/lake".into(), layout).unwrap();
        let f = files(&plan);
        assert!(f.contains_key(".cargo/config.toml") && f.contains_key(".gitignore"));
        let cargo = &f["Cargo.toml"];
        assert!(cargo.contains("rapidbyte-sdk = { path = \"/repo/guest-sdk\", features = [\"destination\"] }"));
        assert!(cargo.contains("\n[workspace]\n"));
        assert!(cargo.contains("[profile.connector]"));
        assert!(!cargo.contains(".workspace = true"));
        let lib = &f["src/lib.rs"];
        assert!(lib.contains("export_destination!(LakeDestination, config_schema: include_str!(\"../config.schema.json\"))"));
        assert!(lib.contains("It stores nothing"));
        assert!(lib.contains("input.batch_written(") && lib.contains("input.commit_checkpoint(&cp)"));
        assert!(f["conformance.yaml"].contains("component: dest_lake.wasm\nconfig: {}\nstream: items\n"));
        assert!(f["README.md"].contains("/repo/target/debug/rapidbyte conformance target/wasm32-wasip2/connector/dest_lake.wasm"));
        assert!(f["README.md"].contains("--cases /repo/fixtures/conformance --only protocol"));
    }

    #[test]
    fn members_edit() {
        let toml = "[workspace]\nmembers = [\n    \"host\",\n    \"xtask\",\n]\ndefault-members = [\"host\"]\n";
        let out = add_member(toml, "connectors/source-x").unwrap().unwrap();
        assert_eq!(out, "[workspace]\nmembers = [\n    \"host\",\n    \"xtask\",\n    \"connectors/source-x\",\n]\ndefault-members = [\"host\"]\n");
        assert_eq!(add_member(&out, "connectors/source-x").unwrap(), None, "listed already");
        let one_line = "[workspace]\ndefault-members = [\"host\"]\nmembers = [\"host\", \"xtask\"]\n";
        assert_eq!(
            add_member(one_line, "c/y").unwrap().unwrap(),
            "[workspace]\ndefault-members = [\"host\"]\nmembers = [\"host\", \"xtask\", \"c/y\"]\n"
        );
        assert_eq!(add_member("[workspace]\nmembers = []\n", "a").unwrap().unwrap(), "[workspace]\nmembers = [\"a\"]\n");
        assert!(add_member("[package]\nname = \"x\"\n", "a").is_err());
    }

    #[test]
    fn the_real_manifest_has_a_members_array() {
        let text = fs::read_to_string(cmd::workspace_root().join("Cargo.toml")).unwrap();
        let out = add_member(&text, "connectors/source-zz-test").unwrap().unwrap();
        assert!(out.contains("    \"connectors/source-zz-test\",\n]"));
        assert_eq!(out.len(), text.len() + "    \"connectors/source-zz-test\",\n".len());
    }

    #[test]
    fn absolute_paths_are_normalised() {
        assert_eq!(absolute(Path::new("/tmp/a/../b/./c")).unwrap(), Path::new("/tmp/b/c"));
        assert!(absolute(Path::new("rel")).unwrap().is_absolute());
    }
}
