//! Reads a Spin manifest (`spin_manifest_version = 2`) and validates the parts cp-host serves.
//!
//! Only what the project uses is modelled: the application name, application variables,
//! HTTP triggers, and components with their source, outbound hosts, variables and environment.
//! Other component keys (`build`, `files`, key-value stores, ...) are ignored, with a warning
//! for the ones that would change behaviour under a real `spin up`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::Deserialize;

use crate::variables::{validate_name, Template};

/// A parsed and validated manifest.
#[derive(Debug, Clone)]
pub(crate) struct Manifest {
    /// Directory holding the manifest; component sources are relative to it.
    pub(crate) dir: PathBuf,
    /// `[application] name`.
    pub(crate) app_name: String,
    /// `[application] version`, when given.
    pub(crate) app_version: Option<String>,
    /// `[variables]`, by name.
    pub(crate) variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.http]]` entries that are routable, in manifest order.
    pub(crate) http_triggers: Vec<HttpTrigger>,
    /// `[component.<id>]`, by id.
    pub(crate) components: BTreeMap<String, ComponentDecl>,
}

/// An application variable declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VariableDecl {
    /// The default value, if any.
    pub(crate) default: Option<String>,
    /// Whether startup fails when no value is supplied.
    pub(crate) required: bool,
    /// Secret values are never printed.
    pub(crate) secret: bool,
}

/// A routable HTTP trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpTrigger {
    /// The route as written in the manifest (`/api/...`, `/items/:id`).
    pub(crate) route: String,
    /// The component serving it.
    pub(crate) component: String,
}

/// A component declaration.
#[derive(Debug, Clone)]
pub(crate) struct ComponentDecl {
    /// Absolute path of the `.wasm` file.
    pub(crate) source: PathBuf,
    /// `allowed_outbound_hosts` entries, still holding `{{ var }}` templates.
    pub(crate) allowed_outbound_hosts: Vec<Template>,
    /// `[component.<id>.variables]`: name to template over application variables.
    pub(crate) variables: BTreeMap<String, Template>,
    /// `environment`: environment variables given to the component.
    pub(crate) environment: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

/// `[application]`: Spin's keys, and no others (Spin refuses unknown ones).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default, rename = "description")]
    _description: Option<String>,
    #[serde(default, rename = "authors")]
    _authors: Vec<String>,
    #[serde(default, rename = "targets")]
    _targets: Vec<toml::Value>,
    #[serde(default)]
    trigger: BTreeMap<String, toml::Table>,
    #[serde(default, rename = "tool")]
    _tool: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
    #[serde(default, rename = "description")]
    _description: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
    // Other trigger types (redis, cron, ...) are not served by cp-host.
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

/// `[[trigger.http]]`: Spin's keys, and no others (Spin refuses unknown ones).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    route: RawRoute,
    component: String,
    #[serde(default, rename = "id")]
    _id: Option<String>,
    #[serde(default)]
    executor: Option<RawExecutor>,
    #[serde(default)]
    static_response: Option<toml::Table>,
    #[serde(default)]
    components: Option<toml::Table>,
}

/// `executor = { type = ... }`: Spin knows `http` (alias `spin`) and `wagi`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "kebab-case")]
enum RawExecutor {
    #[serde(alias = "spin")]
    Http,
    // Its settings (argv) are only parsed, as cp-host refuses the executor.
    Wagi(#[allow(dead_code)] toml::Table),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
struct RawComponent {
    source: RawSource,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSource {
    Path(String),
    Remote(toml::Table),
}

/// Component keys that cp-host ignores silently: they do not change runtime behaviour.
const IGNORED_COMPONENT_KEYS: &[&str] = &["build", "description", "exclude_files", "tool"];

/// Component keys Spin knows that cp-host does not implement: accepted with a warning,
/// as the component may not need them to serve (a missing import fails at startup anyway).
const UNSUPPORTED_COMPONENT_KEYS: &[&str] = &[
    "files",
    "allowed_http_hosts",
    "key_value_stores",
    "sqlite_databases",
    "ai_models",
    "dependencies_inherit_configuration",
    "dependencies",
    "profile",
];

/// Checks an id against Spin's kebab-case rule (component ids and the components triggers
/// name): words of ASCII letters and digits joined by single `-`, the first word starting
/// with a letter, each word all lowercase or all uppercase.
pub(crate) fn validate_kebab_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("an id must not be empty".into());
    }
    if id.contains('_') {
        return Err(format!(
            "invalid id {id:?}: words must be separated with '-', not '_'"
        ));
    }
    for (i, word) in id.split('-').enumerate() {
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return Err(format!(
                "invalid id {id:?}: '-'-separated words must not be empty"
            ));
        };
        if !(first.is_ascii_alphabetic() || (i > 0 && first.is_ascii_digit())) {
            return Err(format!(
                "invalid id {id:?}: words must start with an ASCII letter (or, after the first, a digit)"
            ));
        }
        let upper = first.is_ascii_uppercase();
        for c in chars {
            if c.is_ascii_digit() || c == ':' {
                continue;
            }
            if !c.is_ascii_alphanumeric() {
                return Err(format!(
                    "invalid id {id:?}: words may contain only ASCII letters and digits, not {c:?}"
                ));
            }
            if c.is_ascii_uppercase() != upper {
                return Err(format!(
                    "invalid id {id:?}: each word must be all lowercase or all uppercase"
                ));
            }
        }
    }
    Ok(())
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let manifest = Self::parse(&text, &dir)
            .with_context(|| format!("invalid manifest {}", path.display()))?;
        manifest.check_sources()?;
        Ok(manifest)
    }

    /// Parses manifest text; component sources are resolved against `dir` but not checked.
    pub(crate) fn parse(text: &str, dir: &Path) -> anyhow::Result<Self> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version.as_integer() != Some(2) {
            bail!(
                "spin_manifest_version must be 2 (found {}); cp-host reads only manifest v2",
                raw.spin_manifest_version
            );
        }

        let mut variables = BTreeMap::new();
        for (name, var) in raw.variables {
            validate_name(&name).map_err(|e| anyhow::anyhow!("variable {name:?}: {e}"))?;
            match (&var.default, var.required) {
                (Some(_), true) => {
                    bail!("variable {name:?} cannot be both required and have a default")
                }
                (None, false) => {
                    bail!("variable {name:?} must either be required or have a default")
                }
                _ => {}
            }
            variables.insert(
                name,
                VariableDecl {
                    default: var.default,
                    required: var.required,
                    secret: var.secret,
                },
            );
        }

        // Spin accepts only the default base and refuses any other.
        if let Some(base) = raw
            .application
            .trigger
            .get("http")
            .and_then(|http| http.get("base"))
        {
            if base.as_str() != Some("/") {
                bail!(
                    "[application.trigger.http] base = {base} is not supported (Spin refuses a \
                     base other than \"/\"): prefix each route instead"
                );
            }
        }

        let mut components = BTreeMap::new();
        for (id, raw) in raw.component {
            validate_kebab_id(&id).map_err(|e| anyhow::anyhow!("[component.{id}]: {e}"))?;
            let component = parse_component(&id, raw, dir, &variables)
                .with_context(|| format!("component {id:?}"))?;
            components.insert(id, component);
        }

        for kind in raw.trigger.other.keys() {
            eprintln!("cp-host: warning: trigger type {kind:?} is not supported and is ignored");
        }
        let mut http_triggers = Vec::new();
        for trigger in raw.trigger.http {
            validate_kebab_id(&trigger.component)
                .map_err(|e| anyhow::anyhow!("an HTTP trigger's component: {e}"))?;
            if trigger.static_response.is_some() || trigger.components.is_some() {
                bail!(
                    "the HTTP trigger of component {:?}: static_response and components are not \
                     supported by cp-host",
                    trigger.component
                );
            }
            if let Some(RawExecutor::Wagi(_)) = trigger.executor {
                bail!(
                    "the HTTP trigger of component {:?}: the wagi executor is not supported by \
                     cp-host",
                    trigger.component
                );
            }
            if !components.contains_key(&trigger.component) {
                bail!(
                    "an HTTP trigger refers to component {:?}, which is not defined (no [component.{}])",
                    trigger.component,
                    trigger.component
                );
            }
            match trigger.route {
                RawRoute::Path(route) => http_triggers.push(HttpTrigger {
                    route,
                    component: trigger.component,
                }),
                // A private endpoint is only reachable through service chaining,
                // which cp-host does not implement: it has no route.
                RawRoute::Private { private: true } => {}
                RawRoute::Private { private: false } => bail!(
                    "route of component {:?} must be a path or {{ private = true }}",
                    trigger.component
                ),
            }
        }

        Ok(Self {
            dir: dir.to_path_buf(),
            app_name: raw.application.name,
            app_version: raw.application.version.filter(|v| !v.is_empty()),
            variables,
            http_triggers,
            components,
        })
    }

    /// Fails with a clear message when a served component's `.wasm` file is missing.
    fn check_sources(&self) -> anyhow::Result<()> {
        for (id, component) in &self.components {
            if !component.source.is_file() {
                bail!(
                    "component {id:?}: source {} does not exist (build the components first)",
                    component.source.display()
                );
            }
        }
        Ok(())
    }
}

fn parse_component(
    id: &str,
    raw: RawComponent,
    dir: &Path,
    app_variables: &BTreeMap<String, VariableDecl>,
) -> anyhow::Result<ComponentDecl> {
    let source = match raw.source {
        RawSource::Path(path) => dir.join(path),
        RawSource::Remote(table) => bail!(
            "source with keys {:?} is not supported: use a local path (source = \"path/to.wasm\")",
            table.keys().collect::<Vec<_>>()
        ),
    };

    for key in raw.other.keys() {
        if UNSUPPORTED_COMPONENT_KEYS.contains(&key.as_str()) {
            eprintln!(
                "cp-host: warning: component {id:?}: key {key:?} is not supported and is ignored"
            );
        } else if !IGNORED_COMPONENT_KEYS.contains(&key.as_str()) {
            // Spin's manifest has no such key, and `spin up` refuses the manifest.
            bail!("unknown key {key:?} (Spin refuses it)");
        }
    }

    let check_refs = |template: &Template, what: &str| -> anyhow::Result<()> {
        for name in template.references() {
            if !app_variables.contains_key(name) {
                bail!("{what} refers to application variable {name:?}, which is not declared in [variables]");
            }
        }
        Ok(())
    };

    let mut allowed_outbound_hosts = Vec::new();
    for entry in raw.allowed_outbound_hosts {
        let template = Template::parse(&entry)
            .map_err(|e| anyhow::anyhow!("allowed_outbound_hosts entry {entry:?}: {e}"))?;
        check_refs(
            &template,
            &format!("allowed_outbound_hosts entry {entry:?}"),
        )?;
        allowed_outbound_hosts.push(template);
    }

    let mut variables = BTreeMap::new();
    for (name, value) in raw.variables {
        validate_name(&name).map_err(|e| anyhow::anyhow!("variable {name:?}: {e}"))?;
        let template =
            Template::parse(&value).map_err(|e| anyhow::anyhow!("variable {name:?}: {e}"))?;
        check_refs(&template, &format!("variable {name:?}"))?;
        variables.insert(name, template);
    }

    Ok(ComponentDecl {
        source,
        allowed_outbound_hosts,
        variables,
        environment: raw.environment,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const FULL: &str = r#"
        spin_manifest_version = 2

        [application]
        name = "control-plane"
        version = "0.1.0"

        [variables]
        db_url = { default = "postgres://localhost/cp" }
        api_token = { required = true, secret = true }

        [[trigger.http]]
        route = "/api/v1/tenants/..."
        component = "tenants"

        [[trigger.http]]
        route = { private = true }
        component = "meta"

        [[trigger.http]]
        id = "meta-trigger"
        route = "/api/v1/meta"
        component = "meta"

        [component.tenants]
        source = "target/tenants.wasm"
        allowed_outbound_hosts = ["postgres://{{ db_host }}:5432", "https://*.example.com"]
        environment = { RUST_LOG = "info" }
        [component.tenants.variables]
        api_token = "{{ api_token }}"
        greeting = "hello {{db_url}}!"
        [component.tenants.build]
        command = "cargo build"

        [component.meta]
        source = "/abs/meta.wasm"
    "#;

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        Manifest::parse(text, Path::new("/app"))
    }

    #[test]
    fn parses_a_full_manifest() {
        let text = FULL.replace("{{ db_host }}", "localhost");
        let m = parse(&text).unwrap();
        assert_eq!(m.app_name, "control-plane");
        assert_eq!(
            m.variables["api_token"],
            VariableDecl {
                default: None,
                required: true,
                secret: true
            }
        );
        assert_eq!(
            m.variables["db_url"].default.as_deref(),
            Some("postgres://localhost/cp")
        );
        assert_eq!(
            m.http_triggers,
            vec![
                HttpTrigger {
                    route: "/api/v1/tenants/...".into(),
                    component: "tenants".into()
                },
                HttpTrigger {
                    route: "/api/v1/meta".into(),
                    component: "meta".into()
                },
            ]
        );
        let tenants = &m.components["tenants"];
        assert_eq!(tenants.source, PathBuf::from("/app/target/tenants.wasm"));
        assert_eq!(tenants.allowed_outbound_hosts.len(), 2);
        assert_eq!(tenants.environment["RUST_LOG"], "info");
        assert_eq!(
            tenants.variables["greeting"]
                .references()
                .collect::<Vec<_>>(),
            vec!["db_url"]
        );
        // An absolute source stays absolute.
        assert_eq!(m.components["meta"].source, PathBuf::from("/abs/meta.wasm"));
    }

    #[test]
    fn rejects_undeclared_variable_references() {
        let err = parse(FULL).unwrap_err();
        assert!(format!("{err:#}").contains("\"db_host\""), "{err:#}");
    }

    #[test]
    fn rejects_unknown_trigger_component() {
        let text = r#"
            spin_manifest_version = 2
            [application]
            name = "x"
            [[trigger.http]]
            route = "/..."
            component = "missing"
        "#;
        let err = parse(text).unwrap_err();
        assert!(err.to_string().contains("\"missing\""), "{err}");
    }

    #[test]
    fn rejects_manifest_v1_and_bad_variables() {
        let v1 = "spin_manifest_version = \"1\"\n[application]\nname = \"x\"\n";
        assert!(parse(v1).unwrap_err().to_string().contains("must be 2"));

        let neither =
            "spin_manifest_version = 2\n[application]\nname = \"x\"\n[variables]\nfoo = {}\n";
        assert!(parse(neither).is_err());

        let both = "spin_manifest_version = 2\n[application]\nname = \"x\"\n[variables]\nfoo = { default = \"a\", required = true }\n";
        assert!(parse(both).is_err());

        let bad_name = "spin_manifest_version = 2\n[application]\nname = \"x\"\n[variables]\nFoo = { default = \"a\" }\n";
        assert!(parse(bad_name).is_err());
    }

    #[test]
    fn component_ids_follow_spins_kebab_case_rule() {
        for ok in ["a", "probe", "other-port", "api-v2", "v1-2a", "ABC-def"] {
            assert!(validate_kebab_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "my_probe", "1probe", "a--b", "a-", "-a", "proBe", "a.b", "a b",
        ] {
            assert!(validate_kebab_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spins_known_keys_are_accepted_and_unknown_ones_refused() {
        let base = "spin_manifest_version = 2\n[application]\nname = \"x\"\nversion = \"1\"\n\
                    description = \"d\"\nauthors = [\"me\"]\n[application.trigger.http]\nbase = \"/\"\n\
                    [[trigger.http]]\nid = \"t\"\nroute = \"/...\"\ncomponent = \"c\"\n\
                    executor = { type = \"spin\" }\n[component.c]\nsource = \"c.wasm\"\n\
                    description = \"c\"\nfiles = [\"a\"]\n[component.c.tool.x]\ny = 1\n";
        let m = parse(base).unwrap();
        assert_eq!(m.app_version.as_deref(), Some("1"));
        let err = parse(&format!("colour = \"blue\"\n{base}")).unwrap_err();
        assert!(format!("{err:#}").contains("colour"), "{err:#}");
        let err = parse(&base.replace("version = \"1\"", "owner = \"me\"")).unwrap_err();
        assert!(format!("{err:#}").contains("owner"), "{err:#}");
        let err = parse(&base.replace("base = \"/\"", "base = \"/api\"")).unwrap_err();
        assert!(format!("{err:#}").contains("base"), "{err:#}");
    }

    #[test]
    fn missing_source_is_a_clear_startup_error() {
        let dir = std::env::temp_dir().join(format!("cp-host-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spin.toml");
        std::fs::write(
            &path,
            "spin_manifest_version = 2\n[application]\nname = \"x\"\n[component.a]\nsource = \"nope.wasm\"\n",
        )
        .unwrap();
        let err = Manifest::load(&path).unwrap_err();
        assert!(err.to_string().contains("nope.wasm"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
