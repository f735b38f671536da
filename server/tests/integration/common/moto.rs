//! A private S3-compatible server for one test: PyPI's moto (`moto[server]`, which the
//! bootstrap installs) on a free loopback port, with one empty bucket. The server under
//! test reaches it with the real S3 client, as it would reach any S3 service.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{eventually, free_port};

pub struct Moto {
    pub endpoint: String,
    pub bucket: String,
    child: Child,
}

impl Moto {
    pub async fn start() -> Moto {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run moto's server (scripts/bootstrap.sh installs moto[server])");
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: "banter-files".into(),
            child,
        };
        let http = reqwest::Client::new();
        let bucket_url = moto.object_url("");
        eventually(Duration::from_secs(30), "moto to make a bucket", || async {
            // moto takes unsigned requests: the test sets the bucket up directly.
            match http.put(&bucket_url).send().await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(response.status().to_string()),
                Err(error) => Err(error.to_string()),
            }
        })
        .await;
        moto
    }

    /// The flags that point the server at this bucket.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--s3-bucket".into(),
            self.bucket.clone(),
            "--s3-endpoint".into(),
            self.endpoint.clone(),
        ]
    }

    fn object_url(&self, key: &str) -> String {
        format!("{}/{}/{key}", self.endpoint, self.bucket)
    }

    /// Whether the bucket holds `key`, by listing it (moto lists a bucket made
    /// without credentials to anyone, but keeps the objects to their signed owner).
    pub async fn holds(&self, key: &str) -> bool {
        let listing = reqwest::Client::new()
            .get(self.object_url(""))
            .query(&[("prefix", key)])
            .send()
            .await
            .expect("moto stopped answering")
            .text()
            .await
            .unwrap();
        listing.contains(&format!("<Key>{key}</Key>"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
