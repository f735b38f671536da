//! The command-line tasks (`server admin grant USER`, `server user add USER`): run
//! against the configured database, which is migrated first, and then exit.

use std::io::BufRead;

use app::accounts::rules::{check_password, normalize_username};

use crate::{
    accounts::{password::HashPool, store},
    clock::now_ms,
    config::{AdminAction, Command, UserAction},
    db::Db,
    Config,
};

/// Runs `command`; what it did, in a sentence, or why it could not.
pub async fn run(config: &Config, command: Command) -> Result<String, String> {
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| e.to_string())?;
    db.migrate().await.map_err(|e| e.to_string())?;
    let done = match command {
        Command::Admin {
            action: AdminAction::Grant { username },
        } => grant(&db, &username).await,
        Command::User {
            action: UserAction::Add { username, admin },
        } => add(&db, &username, admin).await,
    };
    db.close().await;
    done
}

async fn grant(db: &Db, username: &str) -> Result<String, String> {
    let username = normalize_username(username)?;
    match store::grant_admin(db, &username).await {
        Ok(true) => Ok(format!("{username} is now a server admin.")),
        Ok(false) => Err(format!("there is no account named {username}")),
        Err(e) => Err(e.to_string()),
    }
}

async fn add(db: &Db, username: &str, admin: bool) -> Result<String, String> {
    let username = normalize_username(username)?;
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    check_password(&password)?;
    let hash = HashPool::new(1)
        .hash(password)
        .await
        .map_err(|e| e.to_string())?;
    match store::insert_user(db, &username, &hash, now_ms()).await {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(format!("the username {username} is taken"))
        }
        Err(e) => return Err(e.to_string()),
    }
    if admin {
        store::grant_admin(db, &username)
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!("Created {username}, a server admin."))
    } else {
        Ok(format!("Created {username}."))
    }
}
