//! The rules the chat applies before and while it changes rooms: who may see and do
//! what in a room, and whether a change may be queued at all under the sender's rate
//! and the server's load.

/// Kinds of room, roles, and the names of direct conversations.
pub mod access;
/// The send rate and the load door every change passes.
pub mod admission;
/// How late a room's members receive its events.
pub mod load;
