//! A private nginx in front of test servers, configured as docs/deploy.md says, on a
//! free port: terminating TLS with a test certificate, or plain HTTP.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{eventually_blocking, free_port};

pub struct Nginx {
    pub port: u16,
    tls: bool,
    dir: PathBuf,
    child: Child,
}

impl Nginx {
    /// Starts nginx proxying `/` and the `/ws` upgrade to `upstreams` (host:port).
    pub fn start(upstreams: &[String]) -> Nginx {
        Nginx::start_with(upstreams, None)
    }

    /// [`Nginx::start`], serving HTTPS with `cert` when given.
    pub fn start_with(upstreams: &[String], cert: Option<&super::tls::TestCert>) -> Nginx {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("banter_nginx_{}_{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let servers: String = upstreams
            .iter()
            .map(|upstream| format!("        server {upstream} max_fails=3 fail_timeout=10s;\n"))
            .collect();
        let d = dir.display();
        let listen = match cert {
            Some(cert) => format!(
                "listen 127.0.0.1:{port} ssl;\n        ssl_certificate {};\n        \
                 ssl_certificate_key {};\n        ssl_protocols TLSv1.2 TLSv1.3;",
                cert.cert_path.display(),
                cert.key_path.display()
            ),
            None => format!("listen 127.0.0.1:{port};"),
        };
        let config = format!(
            r#"
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    upstream banter {{
        least_conn;
{servers}    }}

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    server {{
        {listen}

        location / {{
            proxy_pass http://banter;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}

        location = /ws {{
            proxy_pass http://banter;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 90s;
            proxy_send_timeout 90s;
            proxy_buffering off;
        }}
    }}
}}
"#
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, config).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run nginx (the bootstrap installs Debian's)");
        eventually_blocking(Duration::from_secs(10), "nginx to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .map_err(|_| std::fs::read_to_string(dir.join("error.log")).unwrap_or_default())
        });
        Nginx {
            port,
            tls: cert.is_some(),
            dir,
            child,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT is nginx's graceful stop; its workers follow the master.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
