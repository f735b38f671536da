/// The composer.
pub mod composer;
/// What the parts of a room view share.
pub mod context;
/// The room list and people as drawers on a narrow screen.
pub mod drawers;
/// A message's files on screen, and the image viewer.
pub mod files;
/// The socket client and per-room state.
pub mod live;
/// One message: body, reply, reactions, actions, editing.
pub mod message;
/// Browser notifications and whether the tab is on screen.
pub mod notify;
/// The chat page: rooms sidebar and the room on screen.
pub mod page;
/// A room's people: who is in it, inviting, removing, roles, archiving.
pub mod people;
/// One room on screen.
pub mod room;
/// The sidebar: rooms, conversations, what is unread.
pub mod sidebar;
/// Message times.
pub mod time;
/// The composer's files: progress, cancel, retry.
pub mod uploads;
