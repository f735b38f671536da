//! A certificate authority of the test's own: a self-signed certificate for
//! `localhost` and 127.0.0.1, written to files for the server (or nginx), and clients
//! (HTTP and WebSocket) that trust it and nothing else.

use std::{path::PathBuf, sync::Arc};

pub struct TestCert {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub pem: String,
    der: rustls::pki_types::CertificateDer<'static>,
    dir: PathBuf,
}

impl TestCert {
    pub fn new() -> TestCert {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .unwrap();
        let dir = super::temp_dir("banter_tls");
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
        TestCert {
            cert_path,
            key_path,
            pem: cert.pem(),
            der: cert.der().clone(),
            dir,
        }
    }

    /// The server flags that serve HTTPS with this certificate.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert_path.display().to_string(),
            "--tls-key".into(),
            self.key_path.display().to_string(),
        ]
    }

    /// An HTTP client that trusts this certificate only.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// A WebSocket TLS connector that trusts this certificate only.
    pub fn connector(&self) -> tokio_tungstenite::Connector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        tokio_tungstenite::Connector::Rustls(Arc::new(config))
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
