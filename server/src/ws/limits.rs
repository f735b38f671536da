//! What every WebSocket of a server is held to, beyond the chat's own limits: kept
//! apart from the endpoint so that the server's state can hold it.

use std::time::Duration;

use super::caps;

/// What every WebSocket of this server is held to, beyond the chat's own limits.
#[derive(Clone, Copy, Debug)]
pub struct SocketLimits {
    /// How long the socket may take none of what is written to it before it is closed.
    pub write_deadline: Duration,
    /// Rooms joined at once.
    pub max_rooms: usize,
    /// Frames of any kind per second, and the burst above that rate.
    pub frames: (f64, f64),
}

/// The socket settings of a server: the caps shared by all its connections, and the
/// limits each is held to.
#[derive(Clone)]
pub struct SocketSettings {
    pub caps: caps::Caps,
    pub limits: SocketLimits,
}
