//! The connection loop: connect, feed the server's frames into the rooms until the
//! socket ends, wait, connect again. It is written over any stream and sink of text
//! frames, a wait and a source of randomness, so that it runs natively in tests over
//! channels. The browser's WebSocket and timer, the only browser-only parts, plug into
//! it in `Live::start`.

use std::future::Future;

use futures::{
    future::{self, Either},
    pin_mut, Sink, SinkExt, Stream, StreamExt,
};
use leptos::prelude::*;

use super::{Live, Status};
use crate::protocol::ServerFrame;

/// What the ceiling of the wait doubles from, once per failure: the first wait is
/// 0.5 to 1 s.
const BACKOFF_START_MS: f64 = 500.0;
const BACKOFF_MAX_MS: f64 = 30_000.0;

/// How long to wait before the next attempt, after the `failures`-th connection in a row
/// that ended since the server last said hello, with `random` in [0, 1): between half
/// and all of a ceiling that doubles with each failure up to 30 s, so that a restarted
/// server is not hit by every client in the same instant.
fn backoff_ms(failures: i32, random: f64) -> f64 {
    let ceiling = (BACKOFF_START_MS * 2f64.powi(failures.min(10))).min(BACKOFF_MAX_MS);
    ceiling * (0.5 + random / 2.0)
}

impl Live {
    /// Keeps the tab connected, for good: opens a connection with `open` (`None`: it
    /// could not), takes its frames until it ends, waits with `wait` as long as
    /// [`backoff_ms`] says (`random` gives the jitter), and opens the next. Only the
    /// first call runs; later ones return at once, so the tab has one connection
    /// however many views start it.
    pub async fn run<W, R, F>(
        self,
        mut open: impl FnMut() -> Option<(W, R)>,
        mut wait: impl FnMut(f64) -> F,
        mut random: impl FnMut() -> f64,
    ) where
        W: Sink<String>,
        R: Stream<Item = String>,
        F: Future<Output = ()>,
    {
        if self.started.get_value() {
            return;
        }
        self.started.set_value(true);
        let mut failures: i32 = 0;
        loop {
            self.status.set(Status::Connecting);
            if let Some((write, read)) = open() {
                if self.connection(write, read).await {
                    failures = 0;
                }
            }
            failures += 1;
            let delay = backoff_ms(failures, random());
            self.status.set(Status::Reconnecting {
                seconds: (delay / 1000.0).ceil() as u32,
            });
            wait(delay).await;
        }
    }

    /// One connection, until the server's side of it ends: the outbox is written to
    /// `write`, and every frame read is applied. True when the server said hello.
    async fn connection<W, R>(&self, write: W, read: R) -> bool
    where
        W: Sink<String>,
        R: Stream<Item = String>,
    {
        let mut queue = self.outbox.open();
        let writing = Box::pin(async move {
            pin_mut!(write);
            while let Some(text) = queue.next().await {
                if write.send(text).await.is_err() {
                    // The queue ends with this task, so later sends fail at once and
                    // what must arrive stays pending for the next connection.
                    break;
                }
            }
        });
        let reading = Box::pin(async move {
            pin_mut!(read);
            let mut greeted = false;
            while let Some(text) = read.next().await {
                if let Ok(frame) = serde_json::from_str::<ServerFrame>(&text) {
                    greeted |= matches!(frame, ServerFrame::Hello { .. });
                    self.receive(frame);
                }
            }
            greeted
        });
        // A socket that can no longer be written is still read until it ends.
        let greeted = match future::select(reading, writing).await {
            Either::Left((greeted, _)) => greeted,
            Either::Right(((), reading)) => reading.await,
        };
        self.disconnected();
        greeted
    }

    fn disconnected(&self) {
        self.outbox.close();
        for (_, state) in self.states() {
            // Still wanted: `resume` rejoins rooms marked joined.
            state.forget_presence();
        }
    }
}

#[cfg(feature = "hydrate")]
impl Live {
    /// Connects this tab to the server's WebSocket (once; later calls do nothing).
    pub fn start(&self) {
        leptos::task::spawn_local(self.run(browser::open, browser::sleep_ms, js_sys::Math::random));
    }
}

/// The browser's WebSocket and timer.
#[cfg(feature = "hydrate")]
mod browser {
    use futures::{future::ready, Sink, SinkExt, Stream, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
    use leptos::prelude::*;

    /// `/ws` on the page's host, over TLS when the page came over it.
    fn socket_url() -> String {
        let location = window().location();
        let scheme = if location.protocol().as_deref() == Ok("https:") {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/ws", location.host().unwrap_or_default())
    }

    /// A WebSocket to the server as text frames: binary frames are passed over, and the
    /// first error ends the stream.
    pub fn open() -> Option<(
        impl Sink<String, Error = WebSocketError>,
        impl Stream<Item = String>,
    )> {
        let (write, read) = WebSocket::open(&socket_url()).ok()?.split();
        let write = write.with(|text| ready(Ok::<_, WebSocketError>(Message::Text(text))));
        let read = read
            .take_while(|message| ready(message.is_ok()))
            .filter_map(|message| {
                ready(match message {
                    Ok(Message::Text(text)) => Some(text),
                    _ => None,
                })
            });
        Some((write, read))
    }

    pub async fn sleep_ms(ms: f64) {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        set_timeout(
            move || {
                let _ = tx.send(());
            },
            std::time::Duration::from_millis(ms as u64),
        );
        let _ = rx.await;
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, collections::VecDeque, rc::Rc};

    use futures::{
        channel::{
            mpsc::{unbounded, UnboundedReceiver, UnboundedSender},
            oneshot,
        },
        executor::LocalPool,
        task::LocalSpawnExt,
        FutureExt,
    };
    use leptos::prelude::*;

    use super::*;
    use crate::{
        chat::live::testing,
        protocol::{ClientFrame, HelloUser},
    };

    #[test]
    fn the_backoff_doubles_to_thirty_seconds_with_jitter() {
        assert_eq!(backoff_ms(1, 0.0), 500.0);
        assert_eq!(backoff_ms(1, 1.0), 1_000.0);
        assert_eq!(backoff_ms(3, 0.0), 2_000.0);
        assert_eq!(backoff_ms(6, 1.0), 30_000.0, "capped");
        assert_eq!(backoff_ms(50, 0.0), 15_000.0);
    }

    /// The server's end of one connection.
    struct Server {
        from_client: UnboundedReceiver<String>,
        to_client: UnboundedSender<String>,
    }

    impl Server {
        fn send(&self, frame: &ServerFrame) {
            let text = serde_json::to_string(frame).unwrap();
            self.to_client.unbounded_send(text).unwrap();
        }

        /// What the client wrote since last asked.
        fn received(&mut self) -> Vec<ClientFrame> {
            let mut frames = Vec::new();
            while let Ok(text) = self.from_client.try_recv() {
                frames.push(serde_json::from_str(&text).unwrap());
            }
            frames
        }
    }

    type Connection = (UnboundedSender<String>, UnboundedReceiver<String>);
    /// A wait the loop is in: how long, and how to end it.
    type Wait = (f64, oneshot::Sender<()>);

    /// A tab's `Live` with its connection loop over channels: connections that the test
    /// offers, waits that it ends, no jitter.
    struct Tab {
        live: Live,
        pool: LocalPool,
        offered: Rc<RefCell<VecDeque<Connection>>>,
        waits: Rc<RefCell<VecDeque<Wait>>>,
        _owner: Owner,
    }

    impl Tab {
        fn new() -> Tab {
            let (owner, live) = testing::tab();
            Tab {
                live,
                pool: LocalPool::new(),
                offered: Rc::default(),
                waits: Rc::default(),
                _owner: owner,
            }
        }

        fn start(&mut self) {
            let offered = self.offered.clone();
            let waits = self.waits.clone();
            let run = self.live.run(
                move || offered.borrow_mut().pop_front(),
                move |ms| {
                    let (done, wait) = oneshot::channel();
                    waits.borrow_mut().push_back((ms, done));
                    wait.map(drop)
                },
                || 0.0,
            );
            self.pool.spawner().spawn_local(run).unwrap();
            self.pool.run_until_stalled();
        }

        /// Makes the next connection succeed; its server end.
        fn offer(&mut self) -> Server {
            let (to_server, from_client) = unbounded();
            let (to_client, from_server) = unbounded();
            self.offered
                .borrow_mut()
                .push_back((to_server, from_server));
            Server {
                from_client,
                to_client,
            }
        }

        /// Ends the wait the loop is in; how long it was.
        fn end_wait(&mut self) -> f64 {
            let (ms, done) = self.waits.borrow_mut().pop_front().expect("waiting");
            done.send(()).unwrap();
            self.pool.run_until_stalled();
            ms
        }

        fn settle(&mut self) {
            self.pool.run_until_stalled();
        }
    }

    fn hello() -> ServerFrame {
        ServerFrame::Hello {
            user: HelloUser {
                id: 1,
                username: "alice".into(),
            },
        }
    }

    #[test]
    fn a_new_connection_rejoins_and_resends_what_was_not_acknowledged() {
        let mut tab = Tab::new();
        let live = tab.live;
        // Before any connection: the room on screen, a message and a reaction.
        live.open("general");
        live.post("general", "hi".into(), None, vec![]);
        live.react("general", 7, "👍".into(), true);
        let sent = live.room("general").pending.get_untracked()[0]
            .client_id
            .clone();
        let mut server = tab.offer();
        tab.start();
        assert_eq!(live.status.get_untracked(), Status::Connecting);
        server.send(&hello());
        tab.settle();
        assert_eq!(live.status.get_untracked(), Status::Online);
        assert_eq!(live.me.get_untracked().as_deref(), Some("alice"));
        let frames = server.received();
        assert_eq!(
            frames[0],
            ClientFrame::Join {
                room: "general".into(),
                since: None
            }
        );
        assert!(
            matches!(&frames[1], ClientFrame::Send { client_id, body, .. } if *client_id == sent && body == "hi")
        );
        assert!(matches!(&frames[2], ClientFrame::React { target: 7, .. }));
        assert_eq!(frames.len(), 3);

        // The server goes away: presence is forgotten, the tab waits and tries again.
        server.send(&ServerFrame::Joined {
            room: "general".into(),
            last_seq: 0,
            online: vec!["bob".into()],
        });
        tab.settle();
        assert_eq!(live.room("general").online.get_untracked().len(), 1);
        drop(server);
        tab.settle();
        assert!(live.room("general").online.get_untracked().is_empty());
        assert_eq!(
            live.status.get_untracked(),
            Status::Reconnecting { seconds: 1 }
        );
        let mut server = tab.offer();
        assert_eq!(tab.end_wait(), 500.0);
        server.send(&hello());
        tab.settle();
        let frames = server.received();
        assert_eq!(
            frames.len(),
            3,
            "the same three again: nothing was acknowledged"
        );
        assert!(matches!(&frames[1], ClientFrame::Send { client_id, .. } if *client_id == sent));
    }

    #[test]
    fn the_wait_grows_until_the_server_says_hello() {
        let mut tab = Tab::new();
        tab.start();
        // Nothing offered: every attempt fails.
        assert_eq!(tab.end_wait(), 500.0);
        assert_eq!(tab.end_wait(), 1_000.0);
        assert_eq!(
            tab.live.status.get_untracked(),
            Status::Reconnecting { seconds: 2 }
        );
        // A connection the server never greets counts as a failure too.
        let server = tab.offer();
        assert_eq!(tab.end_wait(), 2_000.0);
        drop(server);
        tab.settle();
        let server = tab.offer();
        assert_eq!(tab.end_wait(), 4_000.0);
        server.send(&hello());
        tab.settle();
        drop(server);
        tab.settle();
        assert_eq!(tab.end_wait(), 500.0, "greeted: back to the start");
    }

    #[test]
    fn a_tab_runs_one_connection() {
        let mut tab = Tab::new();
        tab.start();
        let again = tab
            .live
            .run(|| None::<Connection>, |_| future::ready(()), || 0.0);
        futures::executor::block_on(again);
        assert_eq!(tab.waits.borrow().len(), 1, "only the first loop waits");
    }
}
