//! The host refuses at startup what `spin up` refuses: manifest keys and values outside
//! Spin's manifest rules, unresolvable variable templates, and bad outbound hosts.

#![allow(clippy::unwrap_used)]

mod common;

use common::{TestApp, TestComponent};

/// Starts the probe app with `edit` applied to its manifest text; returns the startup
/// error, or panics if the host started.
async fn startup_error(app: TestApp, edit: impl Fn(String) -> String) -> String {
    let config = app.config();
    let text = edit(std::fs::read_to_string(&config.manifest).unwrap());
    std::fs::write(&config.manifest, &text).unwrap();
    match cp_host::Server::start(config).await {
        Ok(_) => panic!("the host started with a manifest Spin refuses:\n{text}"),
        Err(e) => format!("{e:#}"),
    }
}

/// An edit of the manifest text.
type Edit = Box<dyn Fn(String) -> String>;

fn probe() -> TestApp {
    TestApp::default().component(TestComponent::new("probe", &["/..."]))
}

fn replace(from: &'static str, to: &'static str) -> impl Fn(String) -> String {
    move |text| {
        assert!(text.contains(from), "{from:?} is not in the manifest");
        text.replacen(from, to, 1)
    }
}

#[tokio::test]
async fn unknown_manifest_keys_are_refused() {
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "top level",
            Box::new(|text| format!("colour = \"blue\"\n{text}")),
            "colour",
        ),
        (
            "application",
            Box::new(replace(
                "version = \"1.2.3\"\n",
                "version = \"1.2.3\"\nowner = \"me\"\n",
            )),
            "owner",
        ),
        (
            "component",
            Box::new(replace(
                "allowed_outbound_hosts = [",
                "allowed_hosts = []\nallowed_outbound_hosts = [",
            )),
            "allowed_hosts",
        ),
        (
            "HTTP trigger",
            Box::new(replace(
                "component = \"probe\"\n",
                "component = \"probe\"\nmethod = \"GET\"\n",
            )),
            "method",
        ),
        (
            "variable",
            Box::new(replace(
                "[variables]\n",
                "[variables]\nx = { default = \"a\", hidden = true }\n",
            )),
            "hidden",
        ),
    ];
    for (what, edit, key) in cases {
        let err = startup_error(probe(), edit).await;
        assert!(err.contains(key), "{what}: {err}");
    }
}

#[tokio::test]
async fn manifest_values_outside_spins_rules_are_refused() {
    let cases: Vec<(&str, TestApp, Edit, &str)> = vec![
        (
            "manifest version 1",
            probe(),
            Box::new(replace(
                "spin_manifest_version = 2",
                "spin_manifest_version = 1",
            )),
            "must be 2",
        ),
        (
            "snake_case component id",
            TestApp::default().component(TestComponent::new("my_probe", &["/..."])),
            Box::new(|text| text),
            "'-'",
        ),
        (
            "component id starting with a digit",
            TestApp::default().component(TestComponent::new("1probe", &["/..."])),
            Box::new(|text| text),
            "1probe",
        ),
        (
            "mixed-case component id",
            TestApp::default().component(TestComponent::new("proBe", &["/..."])),
            Box::new(|text| text),
            "proBe",
        ),
        (
            "variable name with capitals",
            probe(),
            Box::new(replace(
                "[variables]\n",
                "[variables]\nApiToken = { default = \"a\" }\n",
            )),
            "ApiToken",
        ),
        (
            "variable both required and defaulted",
            probe(),
            Box::new(replace(
                "[variables]\n",
                "[variables]\nx = { default = \"a\", required = true }\n",
            )),
            "\"x\"",
        ),
        (
            "an HTTP base other than /",
            probe(),
            Box::new(replace(
                "version = \"1.2.3\"\n",
                "version = \"1.2.3\"\n[application.trigger.http]\nbase = \"/api\"\n",
            )),
            "base",
        ),
        (
            "the wagi executor",
            probe(),
            Box::new(replace(
                "component = \"probe\"\n",
                "component = \"probe\"\nexecutor = { type = \"wagi\" }\n",
            )),
            "wagi",
        ),
        (
            "an unknown executor",
            probe(),
            Box::new(replace(
                "component = \"probe\"\n",
                "component = \"probe\"\nexecutor = { type = \"cgi\" }\n",
            )),
            "cgi",
        ),
        (
            "a wildcard that is not last in a route",
            TestApp::default().component(TestComponent::new("probe", &["/a/.../b"])),
            Box::new(|text| text),
            "/a/.../b",
        ),
    ];
    for (what, app, edit, needle) in cases {
        let err = startup_error(app, edit).await;
        assert!(err.contains(needle), "{what}: {err}");
    }
}

#[tokio::test]
async fn unresolvable_variable_templates_are_refused() {
    let cases: Vec<(&str, TestApp, &str)> = vec![
        (
            "a component variable naming an undeclared variable",
            TestApp::default()
                .component(TestComponent::new("probe", &["/..."]).variable("x", "{{ nowhere }}")),
            "nowhere",
        ),
        (
            "an unterminated template",
            TestApp::default()
                .app_variable("host", "{ default = \"h\" }")
                .component(TestComponent::new("probe", &["/..."]).variable("x", "{{ host")),
            "unterminated",
        ),
        (
            "an empty placeholder",
            TestApp::default()
                .component(TestComponent::new("probe", &["/..."]).variable("x", "{{ }}")),
            "empty",
        ),
        (
            "an outbound host naming an undeclared variable",
            TestApp::default()
                .component(TestComponent::new("probe", &["/..."]).allow("https://{{ api_host }}")),
            "api_host",
        ),
        (
            "a required variable with no value",
            TestApp::default()
                .app_variable("never_set_in_any_test", "{ required = true }")
                .component(
                    TestComponent::new("probe", &["/..."])
                        .variable("x", "{{ never_set_in_any_test }}"),
                ),
            "SPIN_VARIABLE_NEVER_SET_IN_ANY_TEST",
        ),
    ];
    for (what, app, needle) in cases {
        let err = startup_error(app, |text| text).await;
        assert!(err.contains(needle), "{what}: {err}");
    }
}

#[tokio::test]
async fn outbound_hosts_spin_refuses_are_refused() {
    for (entry, needle) in [
        ("example.com", "scheme"),
        ("https://example.com/path", "path"),
        ("ftp://example.com", "port"),
        ("https://exa*mple.com", "wildcard"),
        ("http://example.com:http", "port"),
        ("insecure:allow-all", "allow-all"),
    ] {
        let app = TestApp::default().component(TestComponent::new("probe", &["/..."]).allow(entry));
        let err = startup_error(app, |text| text).await;
        assert!(err.contains(needle), "{entry}: {err}");
    }
    // A variable that expands to a bad entry is refused too.
    let mut app = TestApp::default()
        .app_variable("api_host", "{ default = \"ok.example\" }")
        .component(TestComponent::new("probe", &["/..."]).allow("https://{{ api_host }}"));
    app.overrides
        .insert("api_host".into(), "bad.example/path".into());
    let err = startup_error(app, |text| text).await;
    assert!(err.contains("path"), "{err}");
}
