/// The composer.
pub mod composer;
/// What the parts of a room view share.
pub mod context;
/// The socket client and per-room state.
pub mod live;
/// One message: body, reply, reactions, actions, editing.
pub mod message;
/// The chat page: rooms sidebar and the room on screen.
pub mod page;
/// One room on screen.
pub mod room;
/// Message times.
pub mod time;
