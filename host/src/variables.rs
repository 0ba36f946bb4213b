//! Application and component variables, resolved the way `spin up` resolves them.
//!
//! Application variable values come from `--variable name=value`, then the
//! `SPIN_VARIABLE_<NAME>` environment variable, then the manifest default. Component variables
//! are templates (`"{{ api_token }}"`) over application variables; everything is resolved once at
//! startup, which is equivalent to Spin's lazy resolution because these providers never change.

use std::collections::{BTreeMap, HashMap};

use anyhow::bail;

use crate::manifest::VariableDecl;

/// Checks a variable name against Spin's rule: lowercase ASCII letters, digits and single
/// underscores, starting with a letter and ending with a letter or digit.
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    let reason = if name.is_empty() {
        "must not be empty".to_string()
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        format!("invalid character {c:?}: names may contain only lowercase letters, digits and underscores")
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        "must start with a lowercase letter".to_string()
    } else if !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        "must end with a lowercase letter or digit".to_string()
    } else if name.contains("__") {
        "must not contain consecutive underscores".to_string()
    } else {
        return Ok(());
    };
    Err(format!("invalid variable name {name:?}: {reason}"))
}

/// A string with `{{ variable }}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    /// Parses `text`, validating every placeholder's variable name.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unterminated '{{{{' in {text:?}"))?;
            let name = after[..end].trim();
            validate_name(name)?;
            parts.push(Part::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// The variable names this template refers to.
    pub(crate) fn references(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Substitutes every placeholder; fails on a name missing from `values`.
    pub(crate) fn expand(&self, values: &BTreeMap<String, String>) -> anyhow::Result<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => match values.get(name) {
                    Some(value) => out.push_str(value),
                    None => bail!("no value for application variable {name:?}"),
                },
            }
        }
        Ok(out)
    }
}

/// The environment variable that supplies application variable `name`.
pub(crate) fn env_var_name(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

/// Resolves every application variable. `overrides` (from `--variable`) win over `env`
/// (a lookup of `SPIN_VARIABLE_<NAME>`), which wins over the manifest default.
pub(crate) fn resolve_app_variables(
    decls: &BTreeMap<String, VariableDecl>,
    overrides: &HashMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    for name in overrides.keys() {
        if !decls.contains_key(name) {
            bail!("--variable {name}: no such variable is declared in the manifest's [variables]");
        }
    }
    let mut values = BTreeMap::new();
    for (name, decl) in decls {
        let value = overrides
            .get(name)
            .cloned()
            .or_else(|| env(&env_var_name(name)))
            .or_else(|| decl.default.clone());
        match value {
            Some(value) => {
                values.insert(name.clone(), value);
            }
            None => bail!(
                "required variable {name:?} has no value: set {} or pass --variable {name}=...",
                env_var_name(name)
            ),
        }
    }
    Ok(values)
}

/// Why a component's variable lookup failed (mirrors `fermyon:spin/variables.error`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// The name breaks the naming rule.
    #[error("{0}")]
    InvalidName(String),
    /// The component declares no such variable.
    #[error("{0}")]
    Undefined(String),
}

/// One component's resolved variables.
#[derive(Debug, Clone, Default)]
pub(crate) struct ComponentVariables {
    values: HashMap<String, String>,
}

impl ComponentVariables {
    /// Expands each of a component's variable templates.
    pub(crate) fn resolve(
        templates: &BTreeMap<String, Template>,
        app_values: &BTreeMap<String, String>,
    ) -> anyhow::Result<Self> {
        let mut values = HashMap::new();
        for (name, template) in templates {
            values.insert(name.clone(), template.expand(app_values)?);
        }
        Ok(Self { values })
    }

    /// Looks a variable up by name, as `fermyon:spin/variables.get` does.
    pub(crate) fn get(&self, name: &str) -> Result<&str, LookupError> {
        validate_name(name).map_err(LookupError::InvalidName)?;
        self.values
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| LookupError::Undefined(format!("no variable for {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_follow_spins_rule() {
        for ok in ["a", "db_url", "api_token2", "x1_y"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Db", "1abc", "_a", "a_", "a__b", "a-b", "a b", "é"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_parse_and_expand() {
        let t = Template::parse("postgres://{{ db_host }}:{{port}}/x").unwrap();
        assert_eq!(t.references().collect::<Vec<_>>(), vec!["db_host", "port"]);
        let values = BTreeMap::from([
            ("db_host".to_string(), "127.0.0.1".to_string()),
            ("port".to_string(), "55432".to_string()),
        ]);
        assert_eq!(t.expand(&values).unwrap(), "postgres://127.0.0.1:55432/x");
        assert_eq!(
            Template::parse("plain").unwrap().expand(&values).unwrap(),
            "plain"
        );
        assert_eq!(Template::parse("").unwrap().expand(&values).unwrap(), "");

        assert!(Template::parse("{{ unterminated").is_err());
        assert!(Template::parse("{{ Bad }}").is_err());
        assert!(Template::parse("{{ missing }}")
            .unwrap()
            .expand(&values)
            .is_err());
    }

    fn decl(default: Option<&str>) -> VariableDecl {
        VariableDecl {
            default: default.map(str::to_string),
            required: default.is_none(),
            secret: false,
        }
    }

    #[test]
    fn app_variables_follow_precedence() {
        let decls = BTreeMap::from([
            ("a".to_string(), decl(Some("default-a"))),
            ("b".to_string(), decl(Some("default-b"))),
            ("c".to_string(), decl(Some("default-c"))),
        ]);
        let overrides = HashMap::from([("a".to_string(), "flag-a".to_string())]);
        let env = |key: &str| match key {
            "SPIN_VARIABLE_A" => Some("env-a".to_string()),
            "SPIN_VARIABLE_B" => Some("env-b".to_string()),
            _ => None,
        };
        let values = resolve_app_variables(&decls, &overrides, env).unwrap();
        assert_eq!(values["a"], "flag-a");
        assert_eq!(values["b"], "env-b");
        assert_eq!(values["c"], "default-c");
    }

    #[test]
    fn required_variable_without_value_fails() {
        let decls = BTreeMap::from([("token".to_string(), decl(None))]);
        let err = resolve_app_variables(&decls, &HashMap::new(), |_| None).unwrap_err();
        assert!(err.to_string().contains("SPIN_VARIABLE_TOKEN"), "{err}");

        let values = resolve_app_variables(&decls, &HashMap::new(), |k| {
            (k == "SPIN_VARIABLE_TOKEN").then(|| "t".to_string())
        })
        .unwrap();
        assert_eq!(values["token"], "t");

        let unknown = HashMap::from([("nope".to_string(), "x".to_string())]);
        assert!(resolve_app_variables(&decls, &unknown, |_| None).is_err());
    }

    #[test]
    fn component_lookup_errors() {
        let templates = BTreeMap::from([(
            "greeting".to_string(),
            Template::parse("hi {{ who }}").unwrap(),
        )]);
        let app = BTreeMap::from([("who".to_string(), "there".to_string())]);
        let vars = ComponentVariables::resolve(&templates, &app).unwrap();
        assert_eq!(vars.get("greeting"), Ok("hi there"));
        assert!(matches!(vars.get("other"), Err(LookupError::Undefined(_))));
        assert!(matches!(
            vars.get("Greeting"),
            Err(LookupError::InvalidName(_))
        ));
    }
}
