//! The composer's files: each is sent to `POST /api/files` as soon as it is chosen,
//! dropped on the room or pasted, with its progress shown, and can be cancelled or
//! retried; the message claims the stored ones when it is sent. The list and its
//! changes are plain data (tested natively); the transfers are the browser's
//! `XMLHttpRequest`, the one browser API that reports upload progress.

use crate::protocol::Attachment;

/// One file of the composer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// This tab's handle on it.
    pub key: u32,
    pub name: String,
    pub size: u64,
    /// Bytes the server has taken so far.
    pub sent: u64,
    pub state: UploadState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadState {
    Sending,
    Stored(Attachment),
    /// Refused or cut off, for the reason given; it may be retried.
    Failed(String),
}

impl Upload {
    pub fn new(key: u32, name: String, size: u64) -> Upload {
        Upload {
            key,
            name,
            size,
            sent: 0,
            state: UploadState::Sending,
        }
    }

    /// How far along it is, 0 to 100.
    pub fn percent(&self) -> u32 {
        if matches!(self.state, UploadState::Stored(_)) {
            return 100;
        }
        if self.size == 0 {
            return 0;
        }
        ((self.sent.min(self.size) * 100) / self.size) as u32
    }
}

/// Records progress on `key`.
pub fn progress(list: &mut [Upload], key: u32, sent: u64) {
    if let Some(upload) = list.iter_mut().find(|u| u.key == key) {
        if upload.state == UploadState::Sending {
            upload.sent = sent;
        }
    }
}

/// Records how `key` ended.
pub fn finish(list: &mut [Upload], key: u32, outcome: Result<Attachment, String>) {
    if let Some(upload) = list.iter_mut().find(|u| u.key == key) {
        upload.state = match outcome {
            Ok(file) => UploadState::Stored(file),
            Err(why) => UploadState::Failed(why),
        };
    }
}

/// What the message being sent attaches, once nothing is on its way; failed files are
/// left out (they stay in the list to retry or remove).
pub fn ready(list: &[Upload]) -> Option<Vec<Attachment>> {
    if list.iter().any(|u| u.state == UploadState::Sending) {
        return None;
    }
    Some(
        list.iter()
            .filter_map(|u| match &u.state {
                UploadState::Stored(file) => Some(file.clone()),
                _ => None,
            })
            .collect(),
    )
}

/// The reason a failed upload's answer gives: the server's own words when it sent some.
pub fn failure(status: u16, body: &str) -> String {
    if status == 0 {
        return "Could not reach the server.".into();
    }
    serde_json::from_str::<crate::error::ApiError>(body)
        .map(|error| error.to_string())
        .unwrap_or_else(|_| format!("The server answered {status}."))
}

#[cfg(feature = "hydrate")]
pub use transfer::{cancel, discard, forget, retry, start};

#[cfg(feature = "hydrate")]
mod transfer {
    use std::{cell::RefCell, collections::HashMap};

    use leptos::prelude::*;
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{File, ProgressEvent, XmlHttpRequest};

    use super::{failure, finish, progress, Upload, UploadState};
    use crate::attachments::encode_segment;

    /// A transfer in flight: the request (to cancel it) and its handlers, which must
    /// live as long as it does.
    struct Running {
        request: XmlHttpRequest,
        _handlers: Vec<Closure<dyn FnMut(ProgressEvent)>>,
    }

    thread_local! {
        static RUNNING: RefCell<HashMap<u32, Running>> = RefCell::new(HashMap::new());
        /// The files themselves, kept for a retry until sent or removed.
        static FILES: RefCell<HashMap<u32, File>> = RefCell::new(HashMap::new());
        static NEXT: RefCell<u32> = const { RefCell::new(1) };
    }

    /// Starts uploading `file` to `room`, listed in `list`.
    pub fn start(room: &str, file: File, list: RwSignal<Vec<Upload>>) {
        let key = NEXT.with(|next| {
            let mut next = next.borrow_mut();
            *next += 1;
            *next
        });
        list.update(|l| l.push(Upload::new(key, file.name(), file.size() as u64)));
        FILES.with(|files| files.borrow_mut().insert(key, file.clone()));
        send(room, key, &file, list);
    }

    /// Sends a failed upload again.
    pub fn retry(room: &str, key: u32, list: RwSignal<Vec<Upload>>) {
        let Some(file) = FILES.with(|files| files.borrow().get(&key).cloned()) else {
            return;
        };
        list.update(|l| {
            if let Some(u) = l.iter_mut().find(|u| u.key == key) {
                u.sent = 0;
                u.state = UploadState::Sending;
            }
        });
        send(room, key, &file, list);
    }

    /// Stops an upload on its way and removes it from the list.
    pub fn cancel(key: u32, list: RwSignal<Vec<Upload>>) {
        if let Some(running) = RUNNING.with(|r| r.borrow_mut().remove(&key)) {
            let _ = running.request.abort();
        }
        FILES.with(|files| files.borrow_mut().remove(&key));
        list.update(|l| l.retain(|u| u.key != key));
    }

    /// Removes a stored upload before it is sent: the server forgets it too.
    pub fn discard(key: u32, list: RwSignal<Vec<Upload>>) {
        let stored = list.with_untracked(|l| {
            l.iter()
                .find(|u| u.key == key)
                .and_then(|u| match &u.state {
                    UploadState::Stored(file) => Some(file.id.clone()),
                    _ => None,
                })
        });
        cancel(key, list);
        if let Some(id) = stored {
            if let Ok(request) = XmlHttpRequest::new() {
                if request.open("DELETE", &format!("/api/files/{id}")).is_ok() {
                    let _ = request.send();
                }
            }
        }
    }

    /// Forgets the files of uploads that a sent message has claimed.
    pub fn forget(keys: &[u32]) {
        FILES.with(|files| {
            let mut files = files.borrow_mut();
            for key in keys {
                files.remove(key);
            }
        });
    }

    fn send(room: &str, key: u32, file: &File, list: RwSignal<Vec<Upload>>) {
        let Ok(request) = XmlHttpRequest::new() else {
            list.update(|l| finish(l, key, Err("This browser cannot upload files.".into())));
            return;
        };
        let url = format!(
            "/api/files?room={}&name={}",
            encode_segment(room),
            encode_segment(&file.name())
        );
        if request.open("POST", &url).is_err() {
            list.update(|l| finish(l, key, Err("The upload could not start.".into())));
            return;
        }
        let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |event: ProgressEvent| {
            list.update(|l| progress(l, key, event.loaded() as u64));
        });
        let done = request.clone();
        let on_end = Closure::<dyn FnMut(ProgressEvent)>::new(move |_event: ProgressEvent| {
            RUNNING.with(|r| r.borrow_mut().remove(&key));
            let status = done.status().unwrap_or(0);
            let body = done.response_text().ok().flatten().unwrap_or_default();
            let outcome = if status == 201 {
                serde_json::from_str(&body).map_err(|_| "The server's answer was garbled.".into())
            } else {
                Err(failure(status, &body))
            };
            list.update(|l| finish(l, key, outcome));
        });
        if let Ok(upload) = request.upload() {
            upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        }
        // `loadend` follows success, failure and abort alike.
        request.set_onloadend(Some(on_end.as_ref().unchecked_ref()));
        if request.send_with_opt_blob(Some(file)).is_err() {
            list.update(|l| finish(l, key, Err("The upload could not start.".into())));
            return;
        }
        RUNNING.with(|r| {
            r.borrow_mut().insert(
                key,
                Running {
                    request,
                    _handlers: vec![on_progress, on_end],
                },
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: &str) -> Attachment {
        Attachment {
            id: id.into(),
            name: format!("{id}.png"),
            size: 10,
            content_type: "image/png".into(),
            width: Some(1),
            height: Some(1),
        }
    }

    #[test]
    fn a_message_waits_for_its_files() {
        let mut list = vec![
            Upload::new(1, "a".into(), 100),
            Upload::new(2, "b".into(), 50),
        ];
        progress(&mut list, 1, 40);
        assert_eq!(list[0].percent(), 40);
        assert_eq!(ready(&list), None, "both on their way");
        finish(&mut list, 1, Ok(stored("one")));
        assert_eq!(ready(&list), None, "one still on its way");
        finish(&mut list, 2, Err("too big".into()));
        assert_eq!(
            ready(&list),
            Some(vec![stored("one")]),
            "the failed one stays behind"
        );
        assert_eq!(list[0].percent(), 100);
    }

    #[test]
    fn progress_after_the_end_changes_nothing() {
        let mut list = vec![Upload::new(1, "a".into(), 100)];
        finish(&mut list, 1, Err("cancelled".into()));
        progress(&mut list, 1, 99);
        assert_eq!(list[0].sent, 0);
    }

    #[test]
    fn failures_read_in_the_servers_words() {
        let body = r#"{"error":"too_large","message":"That file is too big: the most is 50 MB."}"#;
        assert_eq!(
            failure(413, body),
            "That file is too big: the most is 50 MB."
        );
        assert_eq!(failure(502, "<html>"), "The server answered 502.");
        assert_eq!(failure(0, ""), "Could not reach the server.");
    }
}
