//! A private `redis-server` for one test, on a free port, that the test can kill and
//! start again on the same port.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{eventually_blocking, free_port};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port, empty, and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run redis-server");
        self.child = Some(child);
        eventually_blocking(Duration::from_secs(10), "redis-server to answer", || {
            self.cli(&["PING"]) == "PONG"
        });
    }

    /// Waits until `count` clients subscribe to `channel` (the nodes connect and
    /// subscribe by themselves, at a time of their choosing).
    pub fn wait_for_subscribers(&self, channel: &str, count: usize) {
        let what = format!("{count} subscribers of {channel}");
        eventually_blocking(Duration::from_secs(20), what, || {
            let answer = self.cli(&["PUBSUB", "NUMSUB", channel]);
            let subscribers: usize = answer
                .lines()
                .nth(1)
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            if subscribers >= count {
                Ok(())
            } else {
                Err(format!("{subscribers} subscribed"))
            }
        });
    }

    /// SIGKILL: nothing flushed, every connection cut.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("not running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Runs a command through `redis-cli` and returns its trimmed output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .expect("cannot run redis-cli");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
