//! The built bundle's files as pages link them, and the Content-Security-Policy that
//! lets exactly those run.
//!
//! The server names each file by its content (`/pkg/banter.3f2a….wasm`), so browsers
//! may keep it for a year and a new build is fetched at once; it provides the names
//! as context. Without that context (a page rendered outside the server's routes) the
//! plain names are linked.

use crate::OUTPUT_NAME;

/// Where the page loads the bundle's JavaScript, WebAssembly and CSS from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteAssets {
    pub js: String,
    pub wasm: String,
    pub css: String,
}

impl SiteAssets {
    /// The files under their built names, in `/{pkg_dir}/`.
    pub fn unversioned(pkg_dir: &str) -> Self {
        SiteAssets {
            js: format!("/{pkg_dir}/{OUTPUT_NAME}.js"),
            wasm: format!("/{pkg_dir}/{OUTPUT_NAME}.wasm"),
            css: format!("/{pkg_dir}/{OUTPUT_NAME}.css"),
        }
    }

    /// The module script that starts the app: loads the wasm, then hydrates.
    pub fn boot_script(&self) -> String {
        // serde_json writes each URL as a JavaScript string literal, escapes and all.
        let js = serde_json::to_string(&self.js).unwrap_or_default();
        let wasm = serde_json::to_string(&self.wasm).unwrap_or_default();
        format!(
            "import start, {{ hydrate }} from {js};\n\
             start({{ module_or_path: {wasm} }}).then(() => hydrate());"
        )
    }
}

/// The policy for a page whose scripts carry `nonce`: its own files only, scripts
/// only by nonce (Leptos's resource scripts carry it too), WebAssembly compiled from
/// our own bundle, connections (the WebSocket included) only to this origin, and no
/// framing, plugins, `<base>` or foreign form targets.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_script_loads_the_named_files() {
        let assets = SiteAssets {
            js: "/pkg/banter.abc.js".into(),
            wasm: "/pkg/banter.def.wasm".into(),
            css: "/pkg/banter.123.css".into(),
        };
        let script = assets.boot_script();
        assert!(script.contains(r#"from "/pkg/banter.abc.js""#), "{script}");
        assert!(
            script.contains(r#"module_or_path: "/pkg/banter.def.wasm""#),
            "{script}"
        );
    }

    #[test]
    fn the_policy_allows_only_the_nonce_and_our_origin() {
        let policy = content_security_policy("n0nce");
        assert!(policy.contains("script-src 'self' 'nonce-n0nce' 'wasm-unsafe-eval'"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(!policy.contains("unsafe-inline"), "{policy}");
    }
}
