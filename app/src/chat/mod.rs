/// The socket client and per-room state.
pub mod live;
/// The chat page: rooms, messages, composer, members.
pub mod page;
/// Message times.
pub mod time;
