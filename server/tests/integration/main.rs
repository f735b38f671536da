//! The server's integration tests, one binary: each module starts the real server
//! binary (or reaches the database helpers) against a fresh database per test, on
//! SQLite and MariaDB, and shares `common`.
//!
//! Run them with `cargo test -p server --features app/ssr --test integration` (add a
//! module path, e.g. `-- chat::`, to run one file's tests); the crate's dev-dependency
//! on itself turns on the `testing` feature that `store` needs. MariaDB must listen
//! on 127.0.0.1:3306 (or `BANTER_TEST_MYSQL_URL`), and `redis-server` and `nginx` must
//! be on the PATH for the cluster and proxy tests.

#[macro_use]
mod common;

mod access;
mod accounts;
mod bounds;
mod chat;
mod cluster;
mod crash;
mod events;
mod faults;
mod files;
mod https;
mod operations;
mod startup;
mod store;
