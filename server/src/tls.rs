//! HTTPS served by the server itself (rustls): the certificate, re-read when its files
//! change so that a renewal needs no restart, and a listener that hands axum only
//! connections whose handshake is done. Handshakes run beside the accept loop, each
//! with a deadline and a bounded number at once, so a client that opens a connection
//! and says nothing holds up no one else.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
    ServerConfig,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, Semaphore},
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

/// A client must finish its handshake within this.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; connections beyond it are dropped unanswered.
const MAX_HANDSHAKES: usize = 1024;
/// How often the certificate files are checked for a renewal.
const RELOAD_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate {path}: {source}")]
    Certificate {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("cannot read the private key {path}: {source}")]
    Key {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("the certificate {0} holds no certificate")]
    Empty(PathBuf),
    #[error("the certificate and key do not fit together: {0}")]
    Mismatch(rustls::Error),
}

/// The certificate chain and key files, and what was last read from them.
struct Files {
    cert: PathBuf,
    key: PathBuf,
    read_at: Option<(SystemTime, SystemTime)>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Certificate {
            path: cert.into(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::Empty(cert.into()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.into(),
        source,
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(TlsError::Mismatch)
}

/// Hands every handshake the certificate last read.
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// The TLS side of a server: reads the certificate and key now (failing the start if
/// they are unusable) and keeps them current.
pub struct Tls {
    acceptor: TlsAcceptor,
    resolver: Arc<Resolver>,
    provider: Arc<CryptoProvider>,
    files: Files,
}

impl Tls {
    pub fn new(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let read_at = modified(cert).zip(modified(key));
        let certified = load(cert, key, &provider)?;
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(certified)),
        });
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Mismatch)?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        // axum serves HTTP/1.1 (WebSockets upgrade over it).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            resolver,
            provider,
            files: Files {
                cert: cert.into(),
                key: key.into(),
                read_at,
            },
        })
    }

    /// Re-reads the files if either changed since last read; a broken renewal is
    /// logged and the certificate in use kept.
    fn reload_if_changed(&mut self) {
        let now = modified(&self.files.cert).zip(modified(&self.files.key));
        if now.is_none() || now == self.files.read_at {
            return;
        }
        match load(&self.files.cert, &self.files.key, &self.provider) {
            Ok(certified) => {
                *self
                    .resolver
                    .current
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) = Arc::new(certified);
                self.files.read_at = now;
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
            }
            Err(error) => {
                tracing::warn!(%error, "the renewed certificate is unusable; keeping the old one")
            }
        }
    }

    /// Accepts on `tcp` from now on, handshaking in the background.
    pub fn listen(self, tcp: TcpListener) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (done, accepted) = mpsc::channel(64);
        let task = tokio::spawn(accept_loop(self, tcp, done));
        Ok(TlsListener {
            accepted,
            local,
            task,
        })
    }
}

async fn accept_loop(
    mut tls: Tls,
    tcp: TcpListener,
    done: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let mut reload = tokio::time::interval(RELOAD_EVERY);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = reload.tick() => {
                tls.reload_if_changed();
                continue;
            }
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many handshakes in progress; dropped");
            continue;
        };
        let acceptor = tls.acceptor.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(stream));
            match handshake.await {
                Ok(Ok(stream)) => {
                    drop(permit);
                    let _ = done.send((stream, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// Connections with their handshake done, for `axum::serve`.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The plain-HTTP listener of `--redirect-addr`: every request is sent, permanently,
/// to the same path on the HTTPS site: the public origin when one is configured, else
/// the host asked for on the HTTPS port.
pub fn redirect_app(public_origin: Option<String>, https_port: u16) -> axum::Router {
    use axum::{
        http::{header, uri::Authority, HeaderMap, StatusCode, Uri},
        response::IntoResponse,
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    axum::Router::new().fallback(move |headers: HeaderMap, uri: Uri| {
        let origin = public_origin.clone().or_else(|| {
            let host = headers.get(header::HOST)?.to_str().ok()?;
            let authority: Authority = host.parse().ok()?;
            Some(format!("https://{}{port}", authority.host()))
        });
        async move {
            let Some(origin) = origin else {
                return (StatusCode::BAD_REQUEST, "This site is served over HTTPS.")
                    .into_response();
            };
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            (
                StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, format!("{origin}{path}"))],
            )
                .into_response()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn location(app: axum::Router, host: &str, path: &str) -> String {
        use tower::ServiceExt;
        let request = axum::http::Request::get(path)
            .header("host", host)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 308);
        response.headers()["location"].to_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn every_path_is_redirected_to_https() {
        let public = redirect_app(Some("https://chat.example.com".into()), 8443);
        assert_eq!(
            location(public, "10.0.0.5", "/r/general?x=1").await,
            "https://chat.example.com/r/general?x=1"
        );
        let by_host = redirect_app(None, 8443);
        assert_eq!(
            location(by_host.clone(), "chat.example.com:8080", "/").await,
            "https://chat.example.com:8443/"
        );
        assert_eq!(
            location(redirect_app(None, 443), "[::1]:80", "/login").await,
            "https://[::1]/login"
        );
    }
}
