//! Presence across nodes, kept in Redis: one sorted set per room whose members are
//! `user \n node` and whose scores are expiry times, in ms of Redis's own clock (so
//! the nodes' clocks never matter). Each node adds and removes its own entries as
//! connections come and go and pushes their expiry forward on a timer; a node that dies
//! stops doing so and its entries expire by themselves. A node is named
//! `name#incarnation`, the incarnation new at every start, so a restarted node never
//! keeps its predecessor's users alive.

use std::collections::HashSet;

use redis::{aio::ConnectionManager, AsyncCommands, RedisResult};

fn key_prefix(node: &Node) -> String {
    format!("{}:presence:", node.namespace)
}

fn key(node: &Node, room: &str) -> String {
    format!("{}{room}", key_prefix(node))
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

/// This node as presence entries name it, and the cluster it belongs to.
#[derive(Clone, Debug)]
pub struct Node {
    /// Prefixes every key and channel, so that clusters can share a Redis.
    pub namespace: String,
    pub name: String,
    pub incarnation: String,
}

impl Node {
    pub fn id(&self) -> String {
        format!("{}#{}", self.name, self.incarnation)
    }
}

/// Now, in ms, by Redis's clock: the one clock all nodes' entries are scored by.
pub async fn now(conn: &mut ConnectionManager) -> RedisResult<i64> {
    let (seconds, micros): (i64, i64) = redis::cmd("TIME").query_async(conn).await?;
    Ok(seconds * 1000 + micros / 1000)
}

/// Records that `user` is in `room` through this node, until `expires` (ms).
pub async fn add(
    conn: &mut ConnectionManager,
    node: &Node,
    room: &str,
    user: &str,
    expires: i64,
) -> RedisResult<()> {
    conn.zadd(key(node, room), entry(user, &node.id()), expires)
        .await
}

/// Records that `user` has no connection to `room` through this node any more.
pub async fn remove(
    conn: &mut ConnectionManager,
    node: &Node,
    room: &str,
    user: &str,
) -> RedisResult<()> {
    conn.zrem(key(node, room), entry(user, &node.id())).await
}

/// Pushes the expiry of this node's `entries` to `expires`, in one round trip. Only
/// entries still in Redis are touched, unless `re_add`: a refresh must not bring back
/// an entry removed since its list was taken (a user who just left); after Redis lost
/// everything (it restarted), `re_add` puts them all back.
pub async fn refresh(
    conn: &mut ConnectionManager,
    node: &Node,
    entries: &[(String, String)],
    expires: i64,
    re_add: bool,
) -> RedisResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let id = node.id();
    let mut pipe = redis::pipe();
    for (room, user) in entries {
        let command = pipe.cmd("ZADD").arg(key(node, room));
        if !re_add {
            command.arg("XX");
        }
        command.arg(expires).arg(entry(user, &id)).ignore();
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
    let key = key(node, room);
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

/// Whose entries [`remove`](remove_all) takes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whose {
    /// Those a previous run of this node left behind (it was killed, so it could not).
    Predecessors,
    /// This run's own (it is stopping).
    Mine,
}

/// Removes every entry of `whose` in every room, and returns the rooms they were in.
pub async fn remove_all(
    conn: &mut ConnectionManager,
    node: &Node,
    whose: Whose,
) -> RedisResult<Vec<String>> {
    let prefix = key_prefix(node);
    let mut keys: Vec<String> = Vec::new();
    {
        let mut scan = conn.scan_match::<_, String>(format!("{prefix}*")).await?;
        while let Some(key) = futures_util::StreamExt::next(&mut scan).await {
            keys.push(key?);
        }
    }
    let mut rooms = Vec::new();
    for key in keys {
        let entries: Vec<String> = conn.zrange(&key, 0, -1).await?;
        let chosen: Vec<&String> = entries
            .iter()
            .filter(|entry| {
                parse(entry).is_some_and(|(_, name, incarnation)| {
                    name == node.name
                        && match whose {
                            Whose::Predecessors => incarnation != node.incarnation,
                            Whose::Mine => incarnation == node.incarnation,
                        }
                })
            })
            .collect();
        if !chosen.is_empty() {
            let () = conn.zrem(&key, chosen).await?;
            rooms.push(key[prefix.len()..].to_string());
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
            namespace: "banter".into(),
            name: "box:3000".into(),
            incarnation: "1f".into(),
        };
        let made = entry("alice", &node.id());
        assert_eq!(parse(&made), Some(("alice", "box:3000", "1f")));
        assert_eq!(parse("no separator"), None);
        assert_eq!(parse("alice\nno-incarnation"), None);
    }
}
