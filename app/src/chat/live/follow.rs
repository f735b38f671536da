//! Which rooms this tab follows (has joined on its socket) and from where: the room on
//! screen, and every room the person is in so that their counts stay live, up to the
//! server's limit.

use leptos::prelude::*;

use super::{outbox, Live, RoomState};
use crate::{protocol::ClientFrame, timeline::Timeline};

/// Most rooms one connection follows at once (the server's default limit).
const MAX_FOLLOWED: usize = 200;

impl Live {
    /// Shows `name`, joining it (once) so its traffic arrives.
    pub fn open(&self, name: &str) {
        let state = self.room(name);
        self.active.set(Some(name.to_string()));
        if !state.joined.get_untracked() {
            self.join(name, state);
        }
    }

    /// Joins `name` from where this tab's copy of it ends; it stays unjoined without a
    /// connection, and the next one joins it.
    fn join(&self, name: &str, state: RoomState) {
        let position = state
            .timeline
            .with_untracked(Timeline::position)
            .max(state.since_hint.get_value());
        let frame = ClientFrame::Join {
            room: name.to_string(),
            // A room never loaded here starts from its recent messages.
            since: (position > 0).then_some(position),
        };
        if self.outbox.send(&frame) {
            state.joined.set(true);
        }
    }

    /// Leaves `name`: no more traffic from it, and the user is no longer a member.
    pub fn leave(&self, name: &str) {
        let state = self.room(name);
        self.outbox.send(&ClientFrame::Leave {
            room: name.to_string(),
        });
        state.joined.set(false);
        state.forget_presence();
        if self
            .active
            .with_untracked(|active| active.as_deref() == Some(name))
        {
            self.active.set(None);
        }
    }

    /// Joins every room the user is in that this tab does not follow yet.
    pub(super) fn follow_members(&self) {
        let rooms = self.states();
        let mut followed = rooms
            .iter()
            .filter(|(_, state)| state.joined.get_untracked())
            .count();
        for (name, state) in rooms {
            if followed >= MAX_FOLLOWED {
                break;
            }
            if state.member.get_untracked() && !state.joined.get_untracked() {
                self.join(&name, state);
                followed += 1;
            }
        }
    }

    /// After (re)connecting: rejoin the rooms we had, from their position, and resend
    /// what was never acknowledged.
    pub(super) fn resume(&self) {
        let active = self.active.get_untracked();
        let mut followed = 0;
        for (name, state) in self.states() {
            let is_active = active.as_deref() == Some(name.as_str());
            // A room with messages to send is joined for their echo (one restored after
            // a reload may not be on screen).
            let wanted = state.joined.get_untracked()
                || state.member.get_untracked()
                || is_active
                || state.pending.with_untracked(|pending| !pending.is_empty());
            if !wanted || (followed >= MAX_FOLLOWED && !is_active) {
                continue;
            }
            followed += 1;
            self.join(&name, state);
            let unsent = state.pending.with_untracked(|pending| {
                state
                    .ops
                    .with_untracked(|ops| outbox::unsent(&name, pending, ops))
            });
            for frame in unsent {
                self.outbox.send(&frame);
            }
        }
    }
}
