//! One message on screen: author and time, the message it answers, its formatted body
//! (or its tombstone), its reactions, and the actions on it: reply, react, edit and
//! delete, each a labelled button reachable by keyboard. Edits happen in place: Enter
//! saves, Escape cancels.

use leptos::{html, prelude::*};

use super::{
    context::RoomContext,
    files::Attachments,
    live::{PendingMessage, SendState},
    time::day_and_time,
};
use crate::{
    markdown::Markdown,
    protocol::{check_body, MessageView, Reaction},
};

/// The emoji offered in the picker; any other single emoji can be typed.
const COMMON_EMOJI: [&str; 8] = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "🙏"];

/// A message in the list, with the day separator that precedes it, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub view: MessageView,
    pub revision: u64,
    pub separator: Option<String>,
    /// The first message after the read position: the "new messages" divider goes
    /// before it.
    pub first_new: bool,
}

/// Whether the main pointer is a finger (a long press, not a right click).
fn coarse_pointer() -> bool {
    #[cfg(feature = "hydrate")]
    {
        window()
            .match_media("(pointer: coarse)")
            .ok()
            .flatten()
            .is_some_and(|query| query.matches())
    }
    #[cfg(not(feature = "hydrate"))]
    false
}

/// "alice", "alice and bob", "alice, bob and carol".
fn people(users: &[String]) -> String {
    match users {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[component]
pub fn MessageItem(row: Row) -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let state = ctx.state;
    let Row {
        view: message,
        separator,
        first_new,
        ..
    } = row;
    let mentions_me = {
        let body = message.body.clone().unwrap_or_default();
        Memo::new(move |_| {
            ctx.me.get().is_some_and(|me| {
                let found = crate::mentions::parse(&body);
                found.room || found.names(&me)
            })
        })
    };
    let seq = message.seq;
    let author = message.author.clone();
    let mine = {
        let author = author.clone();
        Memo::new(move |_| ctx.me.get().as_deref() == Some(author.as_str()))
    };
    let editing = Memo::new(move |_| ctx.view.editing.get() == Some(seq));
    // What this tab has sent about this message and is waiting for.
    let pending_edit = Memo::new(move |_| {
        state.ops.with(|ops| {
            ops.iter()
                .rev()
                .filter(|op| op.target == seq)
                .find_map(|op| op.edit_body().map(str::to_string))
        })
    });
    let deleting = Memo::new(move |_| {
        state
            .ops
            .with(|ops| ops.iter().any(|op| op.target == seq && op.is_delete()))
    });
    let sent_at = message.sent_at.clone();
    let time = move || day_and_time(&sent_at, ctx.hydrated.get()).1;
    let edited = message.edited_at.clone().map(|at| {
        let title = move || {
            let (day, time) = day_and_time(&at, ctx.hydrated.get());
            format!("Edited {day} {time}")
        };
        view! { <span class="edited" title=title>"(edited)"</span> }
    });
    let quote = message.reply_to.map(|parent| {
        let preview = message.parent.clone();
        let text = match &preview {
            Some(preview) if preview.excerpt.is_some() => view! {
                <span class="quote-author">{preview.author.clone()}</span>
                " "
                <span class="quote-text">{preview.excerpt.clone()}</span>
            }
            .into_any(),
            _ => view! { <span class="quote-text">"Reply to a deleted message"</span> }.into_any(),
        };
        let label = match &preview {
            Some(preview) if preview.excerpt.is_some() => {
                format!("In reply to {}: show their message", preview.author)
            }
            _ => "In reply to a deleted message".to_string(),
        };
        view! {
            <a
                class="reply-quote"
                href=format!("#m-{parent}")
                aria-label=label
                on:click=move |ev| {
                    ev.prevent_default();
                    ctx.jump_to(parent);
                }
            >
                <span aria-hidden="true">"↪ "</span>
                {text}
            </a>
        }
    });
    let body = message.body.clone();
    let deleted = message.deleted;
    let content = move || {
        if editing.get() {
            return view! { <Editor seq /> }.into_any();
        }
        if deleted {
            return view! { <p class="body tombstone">"message deleted"</p> }.into_any();
        }
        match pending_edit.get() {
            Some(new_body) => view! {
                <div class="body saving">
                    <Markdown source=new_body />
                </div>
                <p class="status">"saving…"</p>
            }
            .into_any(),
            None => view! {
                <div class="body">
                    <Markdown source=body.clone().unwrap_or_default() />
                </div>
            }
            .into_any(),
        }
    };
    let reactions = message.reactions.clone();
    let has_reactions = !reactions.is_empty();
    let files = (!deleted && !message.files.is_empty()).then(|| message.files.clone());

    view! {
        {separator.map(|day| view! { <div class="day" role="separator">{day}</div> })}
        {first_new
            .then(|| {
                view! {
                    <div class="new-divider" role="separator" aria-label="New messages">
                        "New messages"
                    </div>
                }
            })}
        <article
            class="message"
            class:mine=move || mine.get()
            class:mentions-me=move || mentions_me.get()
            class:deleted=deleted
            class:deleting=move || deleting.get()
            class:flash=move || ctx.view.flash.get() == Some(seq)
            class:menu-open=move || ctx.view.menu.get() == Some(seq)
            // A long press on a touch screen opens the message's menu (its context menu
            // event); a mouse's right click keeps the browser's own.
            on:contextmenu=move |ev| {
                if coarse_pointer() && !deleted {
                    ev.prevent_default();
                    ctx.view.menu.update(|menu| *menu = (*menu != Some(seq)).then_some(seq));
                }
            }
            id=format!("m-{seq}")
            data-seq=seq
            tabindex="-1"
            aria-labelledby=format!("m-{seq}-by")
        >
            <header>
                <span class="author" id=format!("m-{seq}-by")>
                    {author.clone()}
                </span>
                <time datetime=message.sent_at.clone()>{time}</time>
                {edited}
            </header>
            {quote}
            {content}
            {files.map(|files| view! { <Attachments files /> })}
            {has_reactions.then(|| view! { <Reactions seq reactions /> })}
            {move || (ctx.hydrated.get() && !deleted).then(|| view! { <Actions seq mine /> })}
            {move || (ctx.view.picking.get() == Some(seq)).then(|| view! { <Picker seq /> })}
            {move || (ctx.view.confirming.get() == Some(seq)).then(|| view! { <ConfirmDelete seq /> })}
        </article>
    }
    .into_any()
}

#[component]
fn Reactions(seq: i64, reactions: Vec<Reaction>) -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let chips = reactions
        .into_iter()
        .map(|reaction| {
            let Reaction { emoji, users } = reaction;
            let count = users.len();
            let who = people(&users);
            let mine = {
                let users = users.clone();
                Memo::new(move |_| {
                    ctx.me
                        .with(|me| me.as_ref().is_some_and(|me| users.contains(me)))
                })
            };
            let label = {
                let (emoji, who) = (emoji.clone(), who.clone());
                move || {
                    let action = if mine.get() {
                        "remove yours"
                    } else {
                        "add yours"
                    };
                    format!("{emoji} {count}, from {who}; {action}")
                }
            };
            let toggle = {
                let emoji = emoji.clone();
                move |_| {
                    ctx.live
                        .react(&ctx.name(), seq, emoji.clone(), !mine.get_untracked())
                }
            };
            view! {
                <button
                    type="button"
                    class="reaction"
                    class:mine=move || mine.get()
                    aria-pressed=move || if mine.get() { "true" } else { "false" }
                    aria-label=label
                    title=format!("{who} reacted with {emoji}")
                    disabled=move || !ctx.hydrated.get()
                    on:click=toggle
                >
                    <span class="emoji">{emoji.clone()}</span>
                    " "
                    <span class="count">{count}</span>
                </button>
            }
        })
        .collect_view();
    view! { <div class="reactions" role="group" aria-label="Reactions">{chips}</div> }
}

#[component]
fn Actions(seq: i64, mine: Memo<bool>) -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let reply = move |_| {
        ctx.view.replying.set(Some(seq));
        ctx.focus_composer();
    };
    let react = move |_| {
        ctx.view
            .picking
            .update(|open| *open = if *open == Some(seq) { None } else { Some(seq) });
    };
    let edit = move |_| start_editing(ctx, seq);
    let delete = move |_| ctx.view.confirming.set(Some(seq));
    view! {
        <div class="actions" role="toolbar" aria-label="Message actions">
            <button type="button" on:click=reply>
                "Reply"
            </button>
            <button
                type="button"
                aria-expanded=move || if ctx.view.picking.get() == Some(seq) { "true" } else { "false" }
                on:click=react
            >
                "React"
            </button>
            {move || {
                mine.get()
                    .then(|| {
                        view! {
                            <button type="button" on:click=edit>
                                "Edit"
                            </button>
                            <button type="button" on:click=delete>
                                "Delete"
                            </button>
                        }
                    })
            }}
        </div>
    }
}

/// Opens the editor on message `seq` with its current text.
pub fn start_editing(ctx: RoomContext, seq: i64) {
    let state = ctx.state;
    let body = state
        .timeline
        .with_untracked(|t| t.get(seq).and_then(|m| m.body.clone()));
    if let Some(body) = body {
        ctx.view.draft.set(body);
        ctx.view.picking.set(None);
        ctx.view.confirming.set(None);
        ctx.view.editing.set(Some(seq));
    }
}

#[component]
fn Editor(seq: i64) -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let state = ctx.state;
    let input = NodeRef::<html::Textarea>::new();
    let editor = NodeRef::<html::Div>::new();
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
        }
        // Its buttons too, when the message is the last one on screen; nothing moves
        // when the editor is already in view.
        if let Some(editor) = editor.get() {
            let options = web_sys::ScrollIntoViewOptions::new();
            options.set_block(web_sys::ScrollLogicalPosition::Nearest);
            editor.scroll_into_view_with_scroll_into_view_options(&options);
        }
    });
    let close = move || {
        ctx.view.editing.set(None);
        ctx.focus_composer();
    };
    let save = move || {
        let draft = ctx.view.draft.get_untracked();
        let current = state
            .timeline
            .with_untracked(|t| t.get(seq).and_then(|m| m.body.clone()));
        if let Ok(body) = check_body(&draft) {
            if current.as_deref() != Some(body) {
                ctx.live.edit(&ctx.name(), seq, body.to_string());
            }
            close();
        }
    };
    let save_click = save;
    view! {
        <div class="editor" node_ref=editor>
            <label class="visually-hidden" for=format!("edit-{seq}")>
                "Edit message"
            </label>
            <textarea
                id=format!("edit-{seq}")
                node_ref=input
                rows=move || ctx.view.draft.with(|d| d.lines().count().clamp(2, 12).to_string())
                maxlength=crate::protocol::MAX_BODY_CHARS.to_string()
                prop:value=move || ctx.view.draft.get()
                on:input=move |ev| ctx.view.draft.set(event_target_value(&ev))
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        save();
                    } else if ev.key() == "Escape" {
                        ev.prevent_default();
                        close();
                    }
                }
            ></textarea>
            <p class="editor-hint">
                "Enter to save, Escape to cancel "
                <button type="button" class="primary" on:click=move |_| save_click()>
                    "Save"
                </button>
                <button type="button" on:click=move |_| close()>
                    "Cancel"
                </button>
            </p>
        </div>
    }
}

#[component]
fn Picker(seq: i64) -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let state = ctx.state;
    let other = RwSignal::new(String::new());
    let close = move || {
        ctx.view.picking.set(None);
        ctx.focus_composer();
    };
    let add = move |emoji: String| {
        let on = !state.timeline.with_untracked(|t| {
            t.get(seq).is_some_and(|m| {
                ctx.me.with_untracked(|me| {
                    m.reactions.iter().any(|r| {
                        r.emoji == emoji && me.as_ref().is_some_and(|me| r.users.contains(me))
                    })
                })
            })
        });
        ctx.live.react(&ctx.name(), seq, emoji, on);
        close();
    };
    let first = NodeRef::<html::Button>::new();
    Effect::new(move |_| {
        if let Some(first) = first.get() {
            let _ = first.focus();
        }
    });
    view! {
        <div
            class="picker"
            role="group"
            aria-label="Add a reaction"
            on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                if ev.key() == "Escape" {
                    ev.prevent_default();
                    close();
                }
            }
        >
            {COMMON_EMOJI
                .iter()
                .enumerate()
                .map(|(i, emoji)| {
                    let emoji = emoji.to_string();
                    let label = format!("React with {emoji}");
                    let node = if i == 0 { first } else { NodeRef::new() };
                    view! {
                        <button
                            type="button"
                            class="emoji-choice"
                            aria-label=label
                            node_ref=node
                            on:click={
                                let emoji = emoji.clone();
                                move |_| add(emoji.clone())
                            }
                        >
                            {emoji.clone()}
                        </button>
                    }
                })
                .collect_view()}
            <form
                class="other-emoji"
                on:submit=move |ev| {
                    ev.prevent_default();
                    let emoji = other.get_untracked().trim().to_string();
                    if !emoji.is_empty() {
                        add(emoji);
                    }
                }
            >
                <label for=format!("emoji-{seq}")>"Any emoji"</label>
                <input
                    id=format!("emoji-{seq}")
                    size="4"
                    maxlength="16"
                    prop:value=move || other.get()
                    on:input=move |ev| other.set(event_target_value(&ev))
                />
                <button type="submit">"Add"</button>
            </form>
        </div>
    }
}

#[component]
fn ConfirmDelete(seq: i64) -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let cancel = NodeRef::<html::Button>::new();
    Effect::new(move |_| {
        if let Some(cancel) = cancel.get() {
            let _ = cancel.focus();
        }
    });
    let close = move || {
        ctx.view.confirming.set(None);
        ctx.focus_composer();
    };
    view! {
        <div class="confirm" role="alertdialog" aria-label="Delete this message?">
            <p>"Delete this message for everyone? This cannot be undone."</p>
            <button
                type="button"
                class="danger"
                on:click=move |_| {
                    ctx.live.delete(&ctx.name(), seq);
                    close();
                }
            >
                "Delete message"
            </button>
            <button type="button" node_ref=cancel on:click=move |_| close()>
                "Cancel"
            </button>
        </div>
    }
}

/// A message sent from this tab that the server has not echoed yet.
#[component]
pub fn PendingItem(pending: PendingMessage) -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let client_id = pending.client_id.clone();
    let status = match pending.state.clone() {
        SendState::Sending => view! { <span class="status">"sending…"</span> }.into_any(),
        SendState::Failed(reason) => view! {
            <span class="status" title=reason.clone()>
                {format!("failed ({reason}) — ")}
            </span>
            <button
                type="button"
                class="link-button"
                on:click=move |_| ctx.live.retry(&ctx.name(), &client_id)
            >
                "retry"
            </button>
        }
        .into_any(),
    };
    let failed = matches!(pending.state, SendState::Failed(_));
    view! {
        <article class="message mine pending" class:failed=failed>
            <header>
                <span class="author">{move || ctx.me.get().unwrap_or_default()}</span>
                {status}
            </header>
            <div class="body">
                <Markdown source=pending.body.clone() />
            </div>
            {(!pending.files.is_empty())
                .then(|| {
                    let names = pending
                        .files
                        .iter()
                        .map(|f| f.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ");
                    view! { <p class="status">{format!("with {names}")}</p> }
                })}
        </article>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_as_a_list() {
        assert_eq!(people(&["a".into()]), "a");
        assert_eq!(people(&["a".into(), "b".into()]), "a and b");
        assert_eq!(people(&["a".into(), "b".into(), "c".into()]), "a, b and c");
    }
}
