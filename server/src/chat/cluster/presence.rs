//! Presence across nodes, kept in Redis: one sorted set per room whose members are
//! `user \n node` and whose scores are expiry times (ms since the epoch). Each node
//! adds and removes its own entries as connections come and go and pushes their expiry
//! forward on a timer; a node that dies stops doing so and its entries expire by
//! themselves. A node is named `name#incarnation`, the incarnation new at every start,
//! so a restarted node never keeps its predecessor's users alive.

use std::collections::HashSet;

use redis::{aio::ConnectionManager, AsyncCommands, RedisResult};

const KEY_PREFIX: &str = "banter:presence:";

fn key(room: &str) -> String {
    format!("{KEY_PREFIX}{room}")
}

fn entry(user: &str, node: &str) -> String {
    format!("{user}\n{node}")
}

/// `(user, node name, incarnation)` of an entry; `None` for anything else.
fn parse(entry: &str) -> Option<(&str, &str, &str)> {
    let (user, node) = entry.split_once('\n')?;
    let (name, incarnation) = node.rsplit_once('#')?;
    Some((user, name, incarnation))
}

/// This node as presence entries name it.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub incarnation: String,
}

impl Node {
    pub fn id(&self) -> String {
        format!("{}#{}", self.name, self.incarnation)
    }
}

/// Records that `user` is in `room` through this node, until `expires` (ms).
pub async fn add(
    conn: &mut ConnectionManager,
    node: &Node,
    room: &str,
    user: &str,
    expires: i64,
) -> RedisResult<()> {
    conn.zadd(key(room), entry(user, &node.id()), expires).await
}

/// Records that `user` has no connection to `room` through this node any more.
pub async fn remove(
    conn: &mut ConnectionManager,
    node: &Node,
    room: &str,
    user: &str,
) -> RedisResult<()> {
    conn.zrem(key(room), entry(user, &node.id())).await
}

/// Pushes the expiry of all this node's entries to `expires`, in one round trip.
pub async fn refresh(
    conn: &mut ConnectionManager,
    node: &Node,
    entries: &[(String, String)],
    expires: i64,
) -> RedisResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let id = node.id();
    let mut pipe = redis::pipe();
    for (room, user) in entries {
        pipe.zadd(key(room), entry(user, &id), expires).ignore();
    }
    pipe.query_async(conn).await
}

/// The users online in `room` through other nodes at `now` (ms), dropping entries that
/// have expired. Entries under this node's name are left out: this node's own
/// connections are counted by its hub, and older incarnations' are ghosts.
pub async fn others(
    conn: &mut ConnectionManager,
    node: &Node,
    room: &str,
    now: i64,
) -> RedisResult<HashSet<String>> {
    let key = key(room);
    let (live,): (Vec<String>,) = redis::pipe()
        .zrembyscore(&key, "-inf", now)
        .ignore()
        .zrangebyscore(&key, format!("({now}"), "+inf")
        .query_async(conn)
        .await?;
    Ok(live
        .iter()
        .filter_map(|entry| parse(entry))
        .filter(|(_, name, _)| *name != node.name)
        .map(|(user, _, _)| user.to_string())
        .collect())
}

/// Removes the entries a previous incarnation of this node left behind (it was killed,
/// so it could not), and returns the rooms they were in.
pub async fn bury_ghosts(conn: &mut ConnectionManager, node: &Node) -> RedisResult<Vec<String>> {
    let mut keys: Vec<String> = Vec::new();
    {
        let mut scan = conn
            .scan_match::<_, String>(format!("{KEY_PREFIX}*"))
            .await?;
        while let Some(key) = futures_util::StreamExt::next(&mut scan).await {
            keys.push(key?);
        }
    }
    let mut rooms = Vec::new();
    for key in keys {
        let entries: Vec<String> = conn.zrange(&key, 0, -1).await?;
        let ghosts: Vec<&String> = entries
            .iter()
            .filter(|entry| {
                parse(entry).is_some_and(|(_, name, incarnation)| {
                    name == node.name && incarnation != node.incarnation
                })
            })
            .collect();
        if !ghosts.is_empty() {
            let () = conn.zrem(&key, ghosts).await?;
            rooms.push(key[KEY_PREFIX.len()..].to_string());
        }
    }
    Ok(rooms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_user_node_and_incarnation() {
        let node = Node {
            name: "box:3000".into(),
            incarnation: "1f".into(),
        };
        let made = entry("alice", &node.id());
        assert_eq!(parse(&made), Some(("alice", "box:3000", "1f")));
        assert_eq!(parse("no separator"), None);
        assert_eq!(parse("alice\nno-incarnation"), None);
    }
}
