//! A room as callers hold it once the chat has found it, and checked that the caller
//! may see it.

use super::rules::access::RoomKind;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomRef {
    pub id: i64,
    pub name: String,
    pub kind: RoomKind,
}
