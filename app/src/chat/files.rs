//! A message's files on screen: images as thumbnails sized before they load (no jump
//! when they arrive), everything else as a card with name, size and kind; and the
//! viewer, which shows a room's images full size, one after another. Without
//! JavaScript a thumbnail is a link to the image and a card a download link.

use leptos::prelude::*;

use super::context::RoomContext;
use crate::{
    attachments::{human_size, Attachment},
    protocol::MessageView,
};

/// The files of one message.
#[component]
pub fn Attachments(files: Vec<Attachment>) -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let items = files
        .into_iter()
        .map(|file| match file.thumb_size() {
            Some((width, height)) => {
                let id = file.id.clone();
                view! {
                    <a
                        class="thumb"
                        href=file.url()
                        aria-label=format!("Open image {}", file.name)
                        on:click=move |ev| {
                            ev.prevent_default();
                            ctx.view.viewing.set(Some(id.clone()));
                        }
                    >
                        <img
                            src=file.thumb_url()
                            alt=file.name.clone()
                            width=width
                            height=height
                            loading="lazy"
                            decoding="async"
                        />
                    </a>
                }
                .into_any()
            }
            None => view! {
                <a class="file-card" href=file.url() download=file.name.clone()>
                    <span class="file-icon" aria-hidden="true">{file.kind_label()}</span>
                    <span class="file-name">{file.name.clone()}</span>
                    <span class="file-meta">
                        {format!("{} · {}", human_size(file.size), file.kind_label())}
                    </span>
                </a>
            }
            .into_any(),
        })
        .collect_view();
    view! { <div class="attachments">{items}</div> }
}

/// The images of a room's messages in order, for the viewer's next and previous.
fn images<'a>(messages: impl Iterator<Item = &'a MessageView>) -> Vec<Attachment> {
    messages
        .flat_map(|m| m.files.iter())
        .filter(|f| f.image_size().is_some())
        .cloned()
        .collect()
}

/// The image at `offset` from `id` among `images`, if any.
pub fn step(images: &[Attachment], id: &str, offset: isize) -> Option<String> {
    let at = images.iter().position(|f| f.id == id)?;
    let next = at.checked_add_signed(offset)?;
    images.get(next).map(|f| f.id.clone())
}

/// The full-size image over the room: Escape or the close button closes it, the arrow
/// keys and buttons go to the room's previous and next images.
#[component]
pub fn Viewer() -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let all = Memo::new(move |_| ctx.state.timeline.with(|t| images(t.messages())));
    let go = move |offset: isize| {
        let Some(id) = ctx.view.viewing.get_untracked() else {
            return;
        };
        if let Some(next) = all.with_untracked(|images| step(images, &id, offset)) {
            ctx.view.viewing.set(Some(next));
        }
    };
    let close = move || ctx.view.viewing.set(None);
    // The keys work wherever the focus is while the viewer is open (it is modal).
    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        if ctx.view.viewing.get_untracked().is_none() {
            return;
        }
        match ev.key().as_str() {
            "Escape" => {
                ev.prevent_default();
                close();
            }
            "ArrowLeft" => go(-1),
            "ArrowRight" => go(1),
            _ => {}
        }
    });
    on_cleanup(move || keys.remove());
    let dialog = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        if ctx.view.viewing.get().is_some() {
            if let Some(dialog) = dialog.get() {
                let _ = dialog.focus();
            }
        }
    });
    move || {
        let id = ctx.view.viewing.get()?;
        let file = all.with(|images| images.iter().find(|f| f.id == id).cloned())?;
        let (width, height) = file.image_size()?;
        let has_prev = all.with(|images| step(images, &id, -1).is_some());
        let has_next = all.with(|images| step(images, &id, 1).is_some());
        Some(view! {
            <div
                class="viewer"
                role="dialog"
                aria-modal="true"
                aria-label=format!("Image {}", file.name)
                tabindex="-1"
                node_ref=dialog
                on:click=move |_| close()
            >
                <figure on:click=|ev| ev.stop_propagation()>
                    <img src=file.url() alt=file.name.clone() width=width height=height />
                    <figcaption>
                        <span>{file.name.clone()}</span>
                        <a href=file.url() download=file.name.clone()>"Download"</a>
                    </figcaption>
                </figure>
                <button
                    type="button"
                    class="viewer-prev"
                    aria-label="Previous image"
                    disabled=!has_prev
                    on:click=move |ev| {
                        ev.stop_propagation();
                        go(-1);
                    }
                >
                    "‹"
                </button>
                <button
                    type="button"
                    class="viewer-next"
                    aria-label="Next image"
                    disabled=!has_next
                    on:click=move |ev| {
                        ev.stop_propagation();
                        go(1);
                    }
                >
                    "›"
                </button>
                <button
                    type="button"
                    class="viewer-close"
                    aria-label="Close"
                    on:click=move |ev| {
                        ev.stop_propagation();
                        close();
                    }
                >
                    "✕"
                </button>
            </div>
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str) -> Attachment {
        Attachment {
            id: id.into(),
            name: format!("{id}.png"),
            size: 1,
            content_type: "image/png".into(),
            width: Some(10),
            height: Some(10),
        }
    }

    #[test]
    fn the_viewer_steps_through_the_rooms_images() {
        let images = [image("a"), image("b"), image("c")];
        assert_eq!(step(&images, "b", 1).as_deref(), Some("c"));
        assert_eq!(step(&images, "b", -1).as_deref(), Some("a"));
        assert_eq!(step(&images, "a", -1), None);
        assert_eq!(step(&images, "c", 1), None);
        assert_eq!(step(&images, "z", 1), None);
    }
}
