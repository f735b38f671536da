//! The Banter server.
//!
//! Run it with `make run` (builds the site first), or after `cargo leptos build`:
//! `target/debug/server --help` lists every flag and its environment variable, e.g.
//! `DATABASE_URL=mysql://root@127.0.0.1/banter target/debug/server --addr 0.0.0.0:3000`.

use std::process::ExitCode;

use clap::Parser;
use server::{config::LogFormat, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|error| {
        eprintln!("ignoring the log filter {:?}: {error}", config.log);
        EnvFilter::new("info")
    });
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }

    if let Some(command) = config.command.clone() {
        return match server::cli::run(&config, command).await {
            Ok(done) => {
                println!("{done}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match server::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}
