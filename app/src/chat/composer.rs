//! The composer: Enter sends, Shift+Enter starts a new line, Up in an empty composer
//! edits your last message, Escape drops the reply being written. Files come by the
//! attach button, a paste or a drop on the room, upload at once, and go with the next
//! message. Without JavaScript it is a plain multipart form (`POST /api/post_form`)
//! carrying the message and its files together.

use leptos::prelude::*;

use super::{
    context::RoomContext,
    live::{new_client_id, Status},
    message::start_editing,
    uploads::{ready, Upload, UploadState},
};
use crate::{attachments::human_size, protocol::check_body, rooms::find_users};

/// Where the plain form posts, and the query parameter its refusal comes back in.
pub const FORM_ACTION: &str = "/api/post_form";
pub const FORM_ERROR: &str = "post_error";

/// Starts uploading `files` (chosen, pasted or dropped) for the composer of `ctx`'s room.
#[cfg(feature = "hydrate")]
pub fn attach(ctx: RoomContext, files: &web_sys::FileList) {
    for i in 0..files.length() {
        if let Some(file) = files.get(i) {
            super::uploads::start(&ctx.name(), file, ctx.view.uploads);
        }
    }
}

/// A button of a file of the composer: `label` and the file's `name` for its purpose.
fn chip_button(label: &'static str, name: &str, act: impl Fn() + 'static) -> impl IntoView {
    view! {
        <button
            type="button"
            class="link-button"
            aria-label=format!("{label} {name}")
            on:click=move |_| act()
        >
            {label}
        </button>
    }
}

/// One file of the composer: its progress, and what can be done with it.
fn upload_chip(ctx: RoomContext, upload: Upload) -> impl IntoView {
    let key = upload.key;
    let list = ctx.view.uploads;
    let name = upload.name.as_str();
    // What the buttons do: only the browser has transfers to touch.
    let cancel = move || {
        #[cfg(feature = "hydrate")]
        super::uploads::cancel(key, list);
    };
    let discard = move || {
        #[cfg(feature = "hydrate")]
        super::uploads::discard(key, list);
    };
    let retry = move || {
        #[cfg(feature = "hydrate")]
        super::uploads::retry(&ctx.name(), key, list);
    };
    #[cfg(not(feature = "hydrate"))]
    let _ = (key, list);
    let (status, actions) = match upload.state.clone() {
        UploadState::Sending => (
            format!("{}%", upload.percent()),
            chip_button("Cancel", name, cancel).into_any(),
        ),
        UploadState::Stored(_) => (
            human_size(upload.size),
            chip_button("Remove", name, discard).into_any(),
        ),
        UploadState::Failed(why) => (
            why,
            view! {
                {chip_button("Retry", name, retry)}
                {chip_button("Remove", name, cancel)}
            }
            .into_any(),
        ),
    };
    let failed = matches!(upload.state, UploadState::Failed(_));
    view! {
        <li class="upload" class:failed=failed>
            <span class="upload-name">{upload.name.clone()}</span>
            <progress
                max="100"
                value=upload.percent()
                aria-label=format!("Upload of {}", upload.name)
            ></progress>
            <span class="upload-status" role=if failed { "alert" } else { "status" }>
                {status}
            </span>
            {actions}
        </li>
    }
}

/// The `@name` being typed at byte `cursor` of `text`: where its `@` is and what
/// follows it so far.
fn mention_at(text: &str, cursor: usize) -> Option<(usize, String)> {
    let before = text.get(..cursor)?;
    let start = before.rfind('@')?;
    let prefix = &before[start + 1..];
    let starts_word = before[..start]
        .chars()
        .next_back()
        .is_none_or(|c| c.is_whitespace() || "([{\"'".contains(c));
    let name_so_far = prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    (starts_word && name_so_far && prefix.len() <= 32).then(|| (start, prefix.to_lowercase()))
}

/// `text` with the `@prefix` at `start` replaced by `@name `, and where the cursor goes.
fn complete(text: &str, start: usize, prefix_len: usize, name: &str) -> (String, usize) {
    let end = (start + 1 + prefix_len).min(text.len());
    let inserted = format!("@{name} ");
    let cursor = start + inserted.len();
    (
        format!("{}{inserted}{}", &text[..start], &text[end..]),
        cursor,
    )
}

#[component]
pub fn Composer() -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let state = ctx.state;
    let room = ctx.name();
    let text = RwSignal::new(String::new());
    // The draft kept in this browser comes back once the page runs (and the person is
    // known); every keystroke keeps it.
    Effect::new(move |restored: Option<bool>| {
        let Some(me) = ctx.me.get() else {
            return false;
        };
        if restored == Some(true) {
            return true;
        }
        if let Some(draft) = ctx.live.draft(&me, &ctx.name()) {
            if text.get_untracked().is_empty() {
                text.set(draft);
            }
        }
        true
    });
    // @-completion: the mention being typed, the names offered, the one chosen.
    let typing_mention = RwSignal::new(None::<(usize, String)>);
    let options = RwSignal::new(Vec::<String>::new());
    let chosen = RwSignal::new(0usize);
    let no_js_error =
        leptos_router::hooks::use_query_map().with_untracked(|query| query.get(FORM_ERROR));
    let uploads = ctx.view.uploads;
    let uploading = move || uploads.with(|l| l.iter().any(|u| u.state == UploadState::Sending));
    let cursor = move || {
        #[cfg(feature = "hydrate")]
        if let Some(area) = ctx.composer.get_untracked() {
            if let Ok(Some(at)) = area.selection_start() {
                // The browser counts UTF-16 units; the text here is UTF-8.
                let value = text.get_untracked();
                let mut units = 0u32;
                for (i, c) in value.char_indices() {
                    if units >= at {
                        return i;
                    }
                    units += c.len_utf16() as u32;
                }
                return value.len();
            }
        }
        text.get_untracked().len()
    };
    let look_up = move || {
        let Some((start, prefix)) = mention_at(&text.get_untracked(), cursor()) else {
            typing_mention.set(None);
            options.set(Vec::new());
            return;
        };
        typing_mention.set(Some((start, prefix.clone())));
        leptos::task::spawn_local(async move {
            let mut names = if prefix.is_empty() {
                // Nothing typed yet: who is here.
                state.online.get_untracked().into_iter().collect()
            } else {
                find_users(prefix.clone()).await.unwrap_or_default()
            };
            if crate::mentions::ROOM.starts_with(&prefix) {
                names.push(crate::mentions::ROOM.to_string());
            }
            // Only if the person is still typing that mention.
            // (`try_`: the composer may be gone by now.)
            if typing_mention.try_get_untracked().flatten().map(|(_, p)| p) == Some(prefix) {
                chosen.set(0);
                options.set(names);
            }
        });
    };
    let accept = move |name: String| {
        let Some((start, prefix)) = typing_mention.get_untracked() else {
            return;
        };
        let (completed, at) = complete(&text.get_untracked(), start, prefix.len(), &name);
        text.set(completed);
        typing_mention.set(None);
        options.set(Vec::new());
        #[cfg(feature = "hydrate")]
        if let Some(area) = ctx.composer.get_untracked() {
            area.set_value(&text.get_untracked());
            let at = text.get_untracked()[..at].encode_utf16().count() as u32;
            let _ = area.set_selection_range(at, at);
            let _ = area.focus();
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = at;
    };
    let offline = move || matches!(ctx.live.status.get(), Status::Reconnecting { .. });
    let send = move || {
        let body = text.get_untracked();
        // The message goes when its files are stored.
        let Some(files) = uploads.with_untracked(|l| ready(l)) else {
            return;
        };
        if check_body(&body).is_ok() || !files.is_empty() {
            let reply_to = ctx.view.replying.get_untracked();
            ctx.live.post(&ctx.name(), body, reply_to, files);
            ctx.view.replying.set(None);
            text.set(String::new());
            ctx.live.keep_draft(&ctx.name(), "");
            // Failed files stay, to retry or remove.
            uploads.update(|l| {
                #[cfg(feature = "hydrate")]
                super::uploads::forget(
                    &l.iter()
                        .filter(|u| matches!(u.state, UploadState::Stored(_)))
                        .map(|u| u.key)
                        .collect::<Vec<_>>(),
                );
                l.retain(|u| matches!(u.state, UploadState::Failed(_)));
            });
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
        let seq = ctx.view.replying.get()?;
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
                        ctx.view.replying.set(None);
                        ctx.focus_composer();
                    }
                >
                    "✕"
                </button>
            </div>
        })
    };
    // Whom the message goes to: `#room`, or a conversation's people.
    let to = move || {
        let label = state.label.get();
        if label.is_empty() {
            format!("#{}", ctx.name())
        } else {
            label
        }
    };
    let completions = move || {
        let names = options.get();
        (!names.is_empty()).then(|| {
            view! {
                <ul class="completions" role="listbox" id="composer-completions" aria-label="People">
                    {names
                        .into_iter()
                        .enumerate()
                        .map(|(i, name)| {
                            let label = format!("@{name}");
                            view! {
                                <li
                                    role="option"
                                    id=format!("completion-{i}")
                                    aria-selected=move || (chosen.get() == i).to_string()
                                    on:mousedown=move |ev| {
                                        // Before the textarea loses focus.
                                        ev.prevent_default();
                                        accept(name.clone());
                                    }
                                >
                                    {label}
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            }
        })
    };
    let chips = move || {
        let list = uploads.get();
        (!list.is_empty()).then(|| {
            view! {
                <ul class="uploads" aria-label="Files to send">
                    {list.into_iter().map(|upload| upload_chip(ctx, upload)).collect_view()}
                </ul>
            }
        })
    };
    view! {
        {replying}
        {completions}
        {chips}
        <form
            class="composer"
            class:offline=offline
            method="post"
            enctype="multipart/form-data"
            action=FORM_ACTION
            on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                send();
            }
        >
            <input type="hidden" name="room" value=room.clone() />
            <input type="hidden" name="client_id" value=new_client_id() />
            <label for="composer-body" class="visually-hidden">
                {move || format!("Message {}", to())}
            </label>
            <textarea
                id="composer-body"
                name="body"
                rows="2"
                node_ref=ctx.composer
                maxlength=crate::protocol::MAX_BODY_CHARS.to_string()
                placeholder=move || {
                    format!(
                        "Message {} (Enter sends, Shift+Enter for a new line, Up edits your last)",
                        to(),
                    )
                }
                prop:value=move || text.get()
                aria-autocomplete="list"
                aria-controls="composer-completions"
                aria-activedescendant=move || {
                    (!options.with(Vec::is_empty)).then(|| format!("completion-{}", chosen.get()))
                }
                on:paste=move |ev: leptos::ev::ClipboardEvent| {
                    #[cfg(feature = "hydrate")]
                    if let Some(files) = ev.clipboard_data().and_then(|d| d.files()) {
                        if files.length() > 0 {
                            ev.prevent_default();
                            attach(ctx, &files);
                        }
                    }
                    #[cfg(not(feature = "hydrate"))]
                    let _ = ev;
                }
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    ctx.live.keep_draft(&ctx.name(), &text.get_untracked());
                    ctx.live.typing(&ctx.name());
                    look_up();
                }
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    let key = ev.key();
                    let offered = options.with_untracked(Vec::len);
                    if offered > 0 && matches!(key.as_str(), "ArrowDown" | "ArrowUp") {
                        ev.prevent_default();
                        let step = if key == "ArrowDown" { 1 } else { offered - 1 };
                        chosen.update(|i| *i = (*i + step) % offered);
                    } else if offered > 0 && matches!(key.as_str(), "Enter" | "Tab") && !ev.shift_key() {
                        ev.prevent_default();
                        let name = options.with_untracked(|names| names.get(chosen.get_untracked()).cloned());
                        if let Some(name) = name {
                            accept(name);
                        }
                    } else if offered > 0 && key == "Escape" {
                        ev.prevent_default();
                        options.set(Vec::new());
                        typing_mention.set(None);
                    } else if key == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    } else if key == "ArrowUp" && text.get_untracked().is_empty() {
                        if edit_last() {
                            ev.prevent_default();
                        }
                    } else if key == "Escape" && ctx.view.replying.get_untracked().is_some() {
                        ev.prevent_default();
                        ctx.view.replying.set(None);
                    }
                }
            ></textarea>
            <label class="attach" title="Attach files">
                <span aria-hidden="true" class:visually-hidden=move || !ctx.hydrated.get()>"📎"</span>
                <span class="visually-hidden">"Attach files"</span>
                // Without JavaScript the field itself shows what was chosen.
                <input
                    type="file"
                    name="files"
                    multiple
                    class:visually-hidden=move || ctx.hydrated.get()
                    on:change=move |ev| {
                        #[cfg(feature = "hydrate")]
                        {
                            use wasm_bindgen::JsCast;
                            if let Some(input) = ev
                                .target()
                                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                            {
                                if let Some(files) = input.files() {
                                    attach(ctx, &files);
                                }
                                input.set_value("");
                            }
                        }
                        #[cfg(not(feature = "hydrate"))]
                        let _ = ev;
                    }
                />
            </label>
            <button type="submit" class="primary" disabled=uploading>
                {move || if uploading() { "Uploading…" } else { "Send" }}
            </button>
            {no_js_error.map(|error| view! { <p class="form-error" role="alert">{error}</p> })}
        </form>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mention_being_typed_is_found() {
        assert_eq!(mention_at("hi @al", 6), Some((3, "al".into())));
        assert_eq!(mention_at("@", 1), Some((0, String::new())));
        assert_eq!(mention_at("(@Bo", 4), Some((1, "bo".into())));
        assert_eq!(mention_at("mail a@b", 8), None, "an address");
        assert_eq!(mention_at("@al done", 8), None, "a finished word");
        assert_eq!(mention_at("é @x", "é @x".len()), Some((3, "x".into())));
    }

    #[test]
    fn completing_replaces_the_prefix() {
        assert_eq!(complete("hi @al", 3, 2, "alice"), ("hi @alice ".into(), 10));
        assert_eq!(
            complete("@b and more", 0, 1, "bob"),
            ("@bob  and more".into(), 5)
        );
    }
}
