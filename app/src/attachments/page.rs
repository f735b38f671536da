//! A room's Files view (`/r/{room}/files`): every file of its messages, newest first,
//! with who sent it and when, paged; rendered on the server, so it works without
//! JavaScript too.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::{encode_segment, human_size, FilesPage};
use crate::error::ApiError;

/// The files of `room`'s messages, newest first, continuing after `before` (a page's
/// `next`).
#[server(endpoint = "room_files")]
pub async fn room_files(
    room: String,
    #[server(default)] before: Option<String>,
) -> Result<FilesPage, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    services
        .files
        .room_files(&user, &room, before.as_deref())
        .await
}

#[component]
pub fn RoomFilesPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let room = Memo::new(move |_| params.read().get("room").unwrap_or_default());
    let before = Memo::new(move |_| query.read().get("before"));
    let page = Resource::new(
        move || (room.get(), before.get()),
        |(room, before)| room_files(room, before),
    );
    view! {
        <Title text=crate::page_title(move || format!("Files in {}", room.get())) />
        <section class="finding room-files">
            <h1>{move || format!("Files in #{}", room.get())}</h1>
            <p>
                <a href=move || format!("/r/{}", encode_segment(&room.get()))>"Back to the room"</a>
            </p>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(error) => view! { <p class="form-error" role="alert">{error.to_string()}</p> }
                            .into_any(),
                        Ok(page) if page.files.is_empty() => {
                            view! { <p>"No files have been shared here yet."</p> }.into_any()
                        }
                        Ok(page) => {
                            let room = room.get_untracked();
                            let more = page.next.clone().map(|next| {
                                format!("/r/{}/files?before={next}", encode_segment(&room))
                            });
                            view! {
                                <ul class="file-list">
                                    {page
                                        .files
                                        .into_iter()
                                        .map(|entry| {
                                            let message = format!("/r/{}?at={}", encode_segment(&room), entry.seq);
                                            view! {
                                                <li>
                                                    <a class="file-name" href=entry.file.url() download=entry.file.name.clone()>
                                                        {entry.file.name.clone()}
                                                    </a>
                                                    <span class="file-meta">
                                                        {format!(
                                                            "{} · {} · {}",
                                                            human_size(entry.file.size),
                                                            entry.file.kind_label(),
                                                            entry.uploader,
                                                        )}
                                                    </span>
                                                    <time datetime=entry.uploaded_at.clone()>
                                                        {entry.uploaded_at.get(..10).unwrap_or_default().to_string()}
                                                    </time>
                                                    <a href=message>"message"</a>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                                {more.map(|href| view! { <a class="more" href=href>"Older files"</a> })}
                            }
                            .into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}
