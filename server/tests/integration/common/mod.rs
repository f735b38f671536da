//! Test support shared by the integration tests: a fresh database per test on each
//! backend, the real server binary started against it, and [`eventually`] for what can
//! only be seen by asking again.

use std::{
    fmt::Display,
    future::Future,
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        mpsc, Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use sqlx::{Connection, Executor, MySqlConnection};
use tokio::sync::watch;

pub mod cut_proxy;
pub mod moto;
pub mod nginx;
pub mod redis;
pub mod tls;
pub mod ws;

/// Long enough for a busy CI machine; a test waiting this long has failed.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// What a probe of [`eventually`] answers: the awaited value, or not yet (and what it
/// saw instead, for the failure message).
pub trait Probe<T> {
    fn answer(self) -> Result<T, String>;
}

impl<T> Probe<T> for Option<T> {
    fn answer(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

impl<T, E: Display> Probe<T> for Result<T, E> {
    fn answer(self) -> Result<T, String> {
        self.map_err(|seen| seen.to_string())
    }
}

impl Probe<()> for bool {
    fn answer(self) -> Result<(), String> {
        self.then_some(()).ok_or_else(String::new)
    }
}

/// The pauses between two questions of [`eventually`], and its deadline.
struct Asking {
    what: String,
    patience: Duration,
    give_up: std::time::Instant,
    pause: Duration,
}

impl Asking {
    fn new(patience: Duration, what: impl Display) -> Asking {
        Asking {
            what: what.to_string(),
            patience,
            give_up: std::time::Instant::now() + patience,
            pause: Duration::from_millis(5),
        }
    }

    /// How long to wait before asking again; past the deadline, fails the test.
    fn again(&mut self, seen: String) -> Duration {
        if std::time::Instant::now() >= self.give_up {
            let seen = if seen.is_empty() {
                String::new()
            } else {
                format!("; the last answer:\n{seen}")
            };
            panic!("waited {:?} for {} in vain{seen}", self.patience, self.what);
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(Duration::from_millis(100));
        pause
    }
}

/// Asks `probe` until it answers (`Some`, `Ok` or `true`) and returns what it answered;
/// after `patience` the test fails, naming `what` it waited for and the last answer.
///
/// For what is only visible by asking (readiness, a gauge, a log, a freed slot). Where
/// an event says it (a frame, a channel), wait for the event instead.
pub async fn eventually<T, A, F>(
    patience: Duration,
    what: impl Display,
    mut probe: impl FnMut() -> F,
) -> T
where
    F: Future<Output = A>,
    A: Probe<T>,
{
    let mut asking = Asking::new(patience, what);
    loop {
        match probe().await.answer() {
            Ok(value) => return value,
            Err(seen) => tokio::time::sleep(asking.again(seen)).await,
        }
    }
}

/// [`eventually`] for the helpers that are not async (processes starting and stopping):
/// the thread sleeps between questions.
pub fn eventually_blocking<T, A: Probe<T>>(
    patience: Duration,
    what: impl Display,
    mut probe: impl FnMut() -> A,
) -> T {
    let mut asking = Asking::new(patience, what);
    loop {
        match probe().answer() {
            Ok(value) => return value,
            Err(seen) => std::thread::sleep(asking.again(seen)),
        }
    }
}

/// Where the MariaDB/MySQL server for tests listens; each test gets its own database on it.
fn mysql_admin_url() -> String {
    std::env::var("BANTER_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

/// A TCP port on loopback that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A new, empty directory of the test's own under the system's temporary directory.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name(prefix));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A database made for one test and dropped when the test is done with it.
pub struct TestDb {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    MySqlDatabase(String),
}

impl TestDb {
    pub async fn create(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(unique_name("banter_test"));
                std::fs::create_dir_all(&dir).unwrap();
                TestDb {
                    url: format!("sqlite://{}/banter.db", dir.display()),
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Backend::MySql => {
                let name = unique_name("banter_test");
                let admin_url = mysql_admin_url();
                let mut admin = MySqlConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("MariaDB for tests is not reachable at {admin_url}: {e}")
                    });
                // Identifiers cannot be bound as parameters; this one is our own digits and letters.
                admin
                    .execute(
                        format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                            .as_str(),
                    )
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let base = admin_url.rsplit_once('/').map(|(base, _)| base).unwrap();
                TestDb {
                    url: format!("{base}/{name}"),
                    cleanup: Cleanup::MySqlDatabase(name),
                }
            }
        }
    }

    pub async fn drop_database(self) {
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::MySqlDatabase(name) => {
                let mut admin = MySqlConnection::connect(&mysql_admin_url()).await.unwrap();
                admin
                    .execute(format!("DROP DATABASE IF EXISTS `{name}`").as_str())
                    .await
                    .unwrap();
                admin.close().await.unwrap();
            }
        }
    }
}

/// Runs `test` against a fresh database of `backend`, dropping the database afterwards
/// even when the test panics (the panic is then passed on).
pub async fn with_test_db<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let db = TestDb::create(backend).await;
    let outcome = tokio::spawn(test(db.url.clone())).await;
    db.drop_database().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// Declares one `#[tokio::test]` per backend around an `async fn(url: String)`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::common::with_test_db($crate::common::Backend::Sqlite, super::$name).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    $crate::common::with_test_db($crate::common::Backend::MySql, super::$name).await;
                }
            }
        )+
    };
}

/// Starts the server binary with `args` in the environment every test runs it in, its
/// output piped.
fn spawn_server(args: &[&str], stdin: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .env("BANTER_LOG", "info")
        .env("NO_COLOR", "1")
        // Tests sign many users up from one address; the sign-up limits have
        // their own tests, which set them by flag.
        .env("BANTER_REGISTRATIONS_PER_ADDRESS", "1000000")
        .env("BANTER_REGISTRATIONS", "1000000")
        .env_remove("REDIS_URL")
        // Each server keeps its files apart (a test that looks at them names its own
        // directory with --uploads-dir); S3 tests talk to a private moto, which takes
        // any credentials.
        .env("BANTER_UPLOADS_DIR", temp_dir("banter_uploads"))
        .env("AWS_ACCESS_KEY_ID", "banter-test")
        .env("AWS_SECRET_ACCESS_KEY", "banter-test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("BANTER_S3_BUCKET")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run the server binary")
}

/// Runs the server binary with `args` to its end, `stdin` as its input (a command such
/// as `user add`): how it exited, and all it wrote (its standard output, then its
/// standard error).
pub fn run_to_exit(args: &[&str], stdin: &str) -> (ExitStatus, String) {
    let mut child = spawn_server(args, Stdio::piped());
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    (output.status, log.into_owned())
}

/// The real server binary, started on a free port.
pub struct TestServer {
    child: Child,
    pub base_url: String,
    /// Everything the server wrote so far; waiters are told of each new line.
    log: Arc<watch::Sender<String>>,
}

/// How a start went: listening, or the process ended first.
enum Start {
    Listening(TestServer),
    Ended { status: ExitStatus, log: String },
}

impl TestServer {
    /// Starts the server against `database_url` and waits (up to a generous bound, for a
    /// cold migration on a busy machine) until it says it is listening.
    pub fn start(database_url: &str) -> TestServer {
        Self::start_with(database_url, &[])
    }

    /// [`TestServer::start`] with extra command-line flags.
    pub fn start_with(database_url: &str, flags: &[&str]) -> TestServer {
        Self::try_start(database_url, flags)
            .unwrap_or_else(|log| panic!("server did not start:\n{log}"))
    }

    /// Like [`TestServer::start_with`], but returns the server's output if it exits instead.
    pub fn try_start(database_url: &str, flags: &[&str]) -> Result<TestServer, String> {
        match Self::launch(database_url, flags) {
            Start::Listening(server) => Ok(server),
            Start::Ended { log, .. } => Err(log),
        }
    }

    /// Starts the server as [`TestServer::start_with`] would, for a start that must be
    /// refused: it must exit unsuccessfully without listening. Returns all it wrote.
    pub fn refused_start(database_url: &str, flags: &[&str]) -> String {
        match Self::launch(database_url, flags) {
            Start::Listening(server) => panic!("the server started:\n{}", server.log()),
            Start::Ended { status, log } => {
                assert!(!status.success(), "{status}:\n{log}");
                log
            }
        }
    }

    fn launch(database_url: &str, flags: &[&str]) -> Start {
        let mut args = vec!["--addr", "127.0.0.1:0", "--database-url", database_url];
        args.extend_from_slice(flags);
        let mut child = spawn_server(&args, Stdio::null());

        let log = Arc::new(watch::Sender::new(String::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        // Keep draining both pipes for the server's whole life, or it blocks on logging.
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            let addr_tx = addr_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        // Text logs end the URL with the line, JSON logs with a quote.
                        let url: String = rest
                            .chars()
                            .take_while(|c| !c.is_whitespace() && *c != '"')
                            .collect();
                        let _ = addr_tx.send(url);
                    }
                    log.send_modify(|log| {
                        log.push_str(&line);
                        log.push('\n');
                    });
                }
            });
        }
        drop(addr_tx);

        match addr_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base_url) => Start::Listening(TestServer {
                child,
                base_url,
                log,
            }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().expect("cannot reap the server");
                let log = log.borrow().clone();
                Start::Ended { status, log }
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn log(&self) -> String {
        self.log.borrow().clone()
    }

    /// The first line of the server's output that satisfies `want`, once it is written.
    pub async fn log_line(&self, want: impl Fn(&str) -> bool) -> String {
        let mut log = self.log.subscribe();
        let written = tokio::time::timeout(PATIENCE, log.wait_for(|log| log.lines().any(&want)));
        let found = match written.await {
            Ok(Ok(log)) => log.lines().find(|line| want(line)).map(str::to_string),
            _ => None,
        };
        found.unwrap_or_else(|| panic!("no such line within {PATIENCE:?}:\n{}", self.log()))
    }

    /// Kills the process with SIGKILL, as a crash or a power cut would: nothing is
    /// flushed, nothing is closed politely.
    pub fn kill(mut self) {
        self.child.kill().expect("cannot kill the server");
        self.child.wait().expect("cannot reap the server");
    }

    /// Sends SIGTERM and waits for the process to finish its graceful shutdown.
    pub fn stop(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success());
        eventually_blocking(
            Duration::from_secs(30),
            "the server to end after SIGTERM",
            || self.child.try_wait().unwrap(),
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- server log ----\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
