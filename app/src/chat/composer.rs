//! The composer: Enter sends, Shift+Enter starts a new line, Up in an empty composer
//! edits your last message, Escape drops the reply being written. Without JavaScript
//! it is a plain form that posts through `post_message`.

use leptos::prelude::*;
use server_fn::ServerFn;

use super::{
    context::RoomContext,
    live::{new_client_id, Status},
    message::start_editing,
};
use crate::{protocol::check_body, rooms::PostMessage, session::url_error};

#[component]
pub fn Composer() -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let state = ctx.state;
    let room = ctx.name();
    let text = RwSignal::new(String::new());
    let no_js_error = url_error::<PostMessage>();
    let offline = move || matches!(ctx.live.status.get(), Status::Reconnecting { .. });
    let send = move || {
        let body = text.get_untracked();
        if check_body(&body).is_ok() {
            let reply_to = state.replying.get_untracked();
            ctx.live.post(&ctx.name(), body, reply_to);
            state.replying.set(None);
            text.set(String::new());
        }
    };
    let edit_last = move || {
        let me = ctx.me.get_untracked();
        let last = state.timeline.with_untracked(|t| {
            t.messages()
                .rev()
                .find(|m| !m.deleted && Some(&m.author) == me.as_ref())
                .map(|m| m.seq)
        });
        match last {
            Some(seq) => {
                start_editing(ctx, seq);
                true
            }
            None => false,
        }
    };
    let replying = move || {
        let seq = state.replying.get()?;
        let (author, excerpt) = state.timeline.with(|t| {
            t.get(seq).map(|m| {
                (
                    m.author.clone(),
                    m.body
                        .as_deref()
                        .map(crate::protocol::excerpt)
                        .unwrap_or_default(),
                )
            })
        })?;
        Some(view! {
            <div class="replying" role="status">
                <span>"Replying to " <strong>{author}</strong> ": " {excerpt}</span>
                <button
                    type="button"
                    class="link-button"
                    aria-label="Cancel reply"
                    on:click=move |_| {
                        state.replying.set(None);
                        ctx.focus_composer();
                    }
                >
                    "✕"
                </button>
            </div>
        })
    };
    view! {
        {replying}
        <form
            class="composer"
            class:offline=offline
            method="post"
            action=PostMessage::url()
            on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                send();
            }
        >
            <input type="hidden" name="room" value=room.clone() />
            <input type="hidden" name="client_id" value=new_client_id() />
            <label for="composer-body" class="visually-hidden">
                {format!("Message #{room}")}
            </label>
            <textarea
                id="composer-body"
                name="body"
                rows="2"
                node_ref=ctx.composer
                maxlength=crate::protocol::MAX_BODY_CHARS.to_string()
                placeholder=format!(
                    "Message #{room} (Enter sends, Shift+Enter for a new line, Up edits your last)",
                )
                prop:value=move || text.get()
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    ctx.live.typing(&ctx.name());
                }
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    let key = ev.key();
                    if key == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    } else if key == "ArrowUp" && text.get_untracked().is_empty() {
                        if edit_last() {
                            ev.prevent_default();
                        }
                    } else if key == "Escape" && state.replying.get_untracked().is_some() {
                        ev.prevent_default();
                        state.replying.set(None);
                    }
                }
            ></textarea>
            <button type="submit" class="primary">
                "Send"
            </button>
            {no_js_error.map(|error| view! { <p class="form-error" role="alert">{error}</p> })}
        </form>
    }
    .into_any()
}
