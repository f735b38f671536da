//! `/search` and `/mentions`: lists of messages found, each with the words that matched
//! highlighted in context, newest first, paged; each opens its room at the message.
//! Server-rendered like every page, so they work without JavaScript too.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    chat::time::utc_day_and_time,
    error::ApiError,
    model::{Found, FoundPage},
    rooms::{mentions, search},
    session::use_session,
};

#[component]
pub fn SearchPage() -> impl IntoView {
    let query = use_query_map();
    let q = Memo::new(move |_| query.read().get("q").unwrap_or_default());
    let before = Memo::new(move |_| query.read().get("before"));
    let results = Resource::new(
        move || (q.get(), before.get()),
        |(q, before)| async move {
            if q.trim().is_empty() {
                None
            } else {
                Some(search(q, None, None, before).await)
            }
        },
    );
    view! {
        <Title text=crate::page_title(move || format!("Search: {}", q.get())) />
        <section class="finding">
            <h1>"Search"</h1>
            <form method="get" action="/search" role="search" class="search-form">
                <label for="search-page-q" class="visually-hidden">
                    "Search messages"
                </label>
                <input id="search-page-q" name="q" type="search" value=move || q.get() />
                <button type="submit" class="primary">
                    "Search"
                </button>
            </form>
            <p class="field-hint">
                "Words match the start of words. Narrow it with in:#room and from:@name."
            </p>
            <LoggedIn>
                <Transition fallback=|| view! { <p class="loading">"Searching…"</p> }>
                    {move || Suspend::new(async move {
                        match results.await {
                            None => ().into_any(),
                            Some(page) => {
                                let more = move |next: &str| {
                                    format!(
                                        "/search?q={}&before={next}",
                                        urlencode(&q.get_untracked()),
                                    )
                                };
                                view! { <Results page more empty="No messages match." /> }
                                    .into_any()
                            }
                        }
                    })}
                </Transition>
            </LoggedIn>
        </section>
    }
}

#[component]
pub fn MentionsPage() -> impl IntoView {
    let query = use_query_map();
    let before = Memo::new(move |_| query.read().get("before"));
    let results = Resource::new(move || before.get(), mentions);
    view! {
        <Title text="Mentions" />
        <section class="finding">
            <h1>"Mentions"</h1>
            <LoggedIn>
                <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let page = results.await;
                        let more = |next: &str| format!("/mentions?before={next}");
                        view! { <Results page more empty="Nobody has mentioned you yet." /> }
                    })}
                </Transition>
            </LoggedIn>
        </section>
    }
}

/// Its children for a logged-in person; a way to log in for anyone else.
#[component]
fn LoggedIn(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    view! {
        <Transition fallback=|| ()>
            {move || {
                let children = children.clone();
                session
                    .user
                    .get()
                    .map(move |user| match user {
                        Ok(Some(_)) => children().into_any(),
                        _ => view! { <p><a href="/login">"Log in"</a> " to search your rooms."</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn Results(
    page: Result<FoundPage, ApiError>,
    more: impl Fn(&str) -> String + 'static,
    empty: &'static str,
) -> impl IntoView {
    let page = match page {
        Ok(page) => page,
        Err(error) => {
            return view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any()
        }
    };
    if page.hits.is_empty() {
        return view! { <p>{empty}</p> }.into_any();
    }
    let next = page.next.as_deref().map(&more);
    view! {
        <ol class="found">
            {page.hits.into_iter().map(|hit| view! { <Hit hit /> }).collect_view()}
        </ol>
        {next.map(|href| view! { <a class="older" href=href>"Older results"</a> })}
    }
    .into_any()
}

#[component]
fn Hit(hit: Found) -> impl IntoView {
    let (day, time) = utc_day_and_time(&hit.sent_at);
    let href = format!("/r/{}?at={}", urlencode(&hit.room), hit.seq);
    view! {
        <li>
            <a class="hit" href=href>
                <span class="hit-room">{hit.room_label.clone()}</span>
                " "
                <span class="author">{hit.author.clone()}</span>
                " "
                <time datetime=hit.sent_at.clone()>{format!("{day} {time}")}</time>
                <span class="snippet">{marked(&hit.snippet, &hit.marks)}</span>
            </a>
        </li>
    }
}

/// `text` with the character ranges `marks` in `<mark>`.
fn marked(text: &str, marks: &[(usize, usize)]) -> AnyView {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut at = 0;
    for &(start, end) in marks {
        if start < at || end > chars.len() || start >= end {
            continue;
        }
        parts.push(chars[at..start].iter().collect::<String>().into_any());
        let found: String = chars[start..end].iter().collect();
        parts.push(view! { <mark>{found}</mark> }.into_any());
        at = end;
    }
    parts.push(chars[at..].iter().collect::<String>().into_any());
    parts.collect_view().into_any()
}

/// Percent-encodes a query value or path segment.
pub fn urlencode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(urlencode("a b&c=#é"), "a%20b%26c%3D%23%C3%A9");
        assert_eq!(urlencode("@3f1a"), "@3f1a");
    }
}
