//! How many WebSockets one user and one client address may hold open on this server.
//! Each open socket costs a task, buffers and presence; without a cap one account or
//! one host could open them until the server runs out.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
};

#[derive(Default)]
struct Counts {
    users: HashMap<i64, u32>,
    addresses: HashMap<String, u32>,
}

/// The caps and the sockets counted against them.
#[derive(Clone)]
pub struct Caps {
    per_user: u32,
    per_address: u32,
    counts: Arc<Mutex<Counts>>,
}

/// Which cap a new socket would exceed.
#[derive(Debug, PartialEq, Eq)]
pub enum Over {
    User,
    Address,
}

/// Counts one socket until dropped.
pub struct Slot {
    user: i64,
    address: String,
    counts: Arc<Mutex<Counts>>,
}

fn release<K: Hash + Eq>(map: &mut HashMap<K, u32>, key: &K) {
    if let Some(count) = map.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            map.remove(key);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        release(&mut counts.users, &self.user);
        release(&mut counts.addresses, &self.address);
    }
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    // Plain counters: still right after a panic elsewhere.
    counts
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Caps {
    pub fn new(per_user: u32, per_address: u32) -> Self {
        Caps {
            per_user,
            per_address,
            counts: Arc::default(),
        }
    }

    /// Takes a slot for a socket of `user` from `address` (an [`address_key`]), unless
    /// either already holds its cap.
    ///
    /// [`address_key`]: crate::client::address_key
    pub fn take(&self, user: i64, address: String) -> Result<Slot, Over> {
        let mut counts = lock(&self.counts);
        if counts.users.get(&user).copied().unwrap_or(0) >= self.per_user {
            return Err(Over::User);
        }
        if counts.addresses.get(&address).copied().unwrap_or(0) >= self.per_address {
            return Err(Over::Address);
        }
        *counts.users.entry(user).or_default() += 1;
        *counts.addresses.entry(address.clone()).or_default() += 1;
        Ok(Slot {
            user,
            address,
            counts: self.counts.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cap_holds_and_closing_frees_a_slot() {
        let caps = Caps::new(2, 3);
        let a = caps.take(1, "192.0.2.1".into()).unwrap();
        let _b = caps.take(1, "192.0.2.1".into()).unwrap();
        assert_eq!(caps.take(1, "192.0.2.9".into()).err(), Some(Over::User));
        let _c = caps.take(2, "192.0.2.1".into()).unwrap();
        assert_eq!(caps.take(3, "192.0.2.1".into()).err(), Some(Over::Address));
        assert!(caps.take(3, "192.0.2.2".into()).is_ok(), "another address");
        drop(a);
        assert!(caps.take(1, "192.0.2.9".into()).is_ok());
        drop(_b);
        drop(_c);
        let counts = lock(&caps.counts);
        assert!(
            counts.users.is_empty() && counts.addresses.is_empty(),
            "nothing kept"
        );
    }
}
