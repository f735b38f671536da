//! Files, through the real server on SQLite and MariaDB, on local disk and on a real
//! S3-compatible server (moto): upload, attach to a post, download byte for byte,
//! ranges, the retry that attaches once, deletion erasing blob and thumbnail, and
//! uploads left unclaimed collected. Then who may read a file (every refusal the same
//! bytes), the limits (413 with and without a length, the quota, a decompression
//! bomb, the start rate), dangerous types served as downloads, and EXIF stripped from
//! a photo that is turned upright.

use std::{io::Cursor, path::Path};

use futures_util::stream;
use image::{GenericImageView, ImageEncoder};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{
    eventually,
    moto::Moto,
    temp_dir,
    ws::{api, call, delete, token_for, Client},
    TestServer, PATIENCE,
};
use app::{attachments::FilesPage, protocol::ServerFrame};

/// A PNG of `width`×`height`, red on the left half and blue on the right.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// Bytes no sniffer takes for anything: a file to be kept exactly.
fn binary(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // A NUL early on: not text either.
            if i == 3 {
                0
            } else {
                state as u8
            }
        })
        .collect()
}

fn sha(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

async fn upload(
    server: &TestServer,
    token: &str,
    room: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/api/files"))
        .query(&[("room", room), ("name", name)])
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// Uploads and expects it stored: the attachment as the server describes it.
async fn stored(server: &TestServer, token: &str, room: &str, name: &str, bytes: Vec<u8>) -> Value {
    let (status, file) = upload(server, token, room, name, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    file
}

struct Fetched {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Vec<u8>,
}

async fn fetch(
    server: &TestServer,
    token: Option<&str>,
    path: &str,
    range: Option<&str>,
) -> Fetched {
    let mut request = reqwest::Client::new().get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(range) = range {
        request = request.header(header::RANGE, range);
    }
    let response = request.send().await.unwrap();
    Fetched {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

fn file_path(file: &Value) -> String {
    format!(
        "/files/{}/{}",
        file["id"].as_str().unwrap(),
        file["name"].as_str().unwrap()
    )
}

fn thumb_path(file: &Value) -> String {
    format!("/thumbs/{}", file["id"].as_str().unwrap())
}

fn id(file: &Value) -> String {
    file["id"].as_str().unwrap().to_string()
}

fn send_with_files(room: &str, body: &str, files: &[String], client_id: &str) -> Value {
    json!({"type": "send", "room": room, "client_id": client_id, "body": body, "files": files})
}

/// Where a store keeps a file's bytes, as the test can see them.
enum Store<'a> {
    Disk(&'a Path),
    S3(&'a Moto),
}

impl Store<'_> {
    async fn holds(&self, key: &str) -> bool {
        match self {
            Store::Disk(dir) => dir.join(key).exists(),
            Store::S3(moto) => moto.holds(key).await,
        }
    }
}

/// The whole life of two files on one store: uploaded, attached once however often the
/// post is retried, delivered live and in history, downloaded exactly (whole and by
/// range), and erased with their thumbnail when the message is deleted.
async fn files_live_and_die(server: &TestServer, store: Store<'_>) {
    let alice = token_for(server, "alice").await;
    let bob = token_for(server, "bob").await;
    let mut watcher = Client::connect(server, &bob).await;
    watcher.join("general", None).await;

    // Over one 5 MiB part, so that it is written in parts.
    let report = binary(6 * 1024 * 1024 + 123);
    let photo = png(1200, 600);
    let report_file = stored(server, &alice, "general", "report été.bin", report.clone()).await;
    let photo_file = stored(server, &alice, "general", "photo.png", photo.clone()).await;
    assert_eq!(report_file["size"], report.len());
    assert_eq!(report_file["content_type"], "application/octet-stream");
    assert!(
        report_file.get("width").is_none(),
        "not an image: {report_file}"
    );
    assert_eq!(
        (photo_file["width"].as_u64(), photo_file["height"].as_u64()),
        (Some(1200), Some(600))
    );
    assert!(store.holds(&id(&report_file)).await);
    assert!(store.holds(&format!("{}.thumb", id(&photo_file))).await);

    let mut author = Client::connect(server, &alice).await;
    let files = [id(&report_file), id(&photo_file)];
    let post = send_with_files("general", "the numbers", &files, "with-files");
    let seq = author.change(post.clone()).await["seq"].as_i64().unwrap();
    // Retried, as after a dropped connection: the same event, attached once.
    let again = author.change(post).await;
    assert_eq!(again["seq"].as_i64(), Some(seq));
    // The same uploads under a new id are someone's mistake, refused.
    author
        .send(send_with_files("general", "again", &files, "other-id"))
        .await;
    let refused = author.until_type("error").await;
    assert_eq!(refused["code"], "invalid_message", "{refused}");

    let live = watcher
        .frame_until(|f| matches!(f, ServerFrame::Message(m) if m.seq == seq))
        .await;
    let ServerFrame::Message(live) = live else {
        unreachable!()
    };
    let names: Vec<&str> = live.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["report été.bin", "photo.png"],
        "in the order attached"
    );

    let listed: FilesPage = api(server, &bob, "room_files", &[("room", "general")]).await;
    assert_eq!(listed.files.len(), 2, "each file attached once: {listed:?}");
    assert!(listed
        .files
        .iter()
        .all(|f| f.seq == seq && f.uploader == "alice"));

    let history: Value = api(server, &bob, "history", &[("room", "general")]).await;
    let message = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["seq"] == seq)
        .unwrap()
        .clone();
    assert_eq!(message["files"].as_array().unwrap().len(), 2, "{message}");

    let whole = fetch(server, Some(&bob), &file_path(&report_file), None).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(
        sha(&whole.body),
        sha(&report),
        "the file comes back exactly"
    );
    assert_eq!(whole.headers[header::ACCEPT_RANGES], "bytes");
    let part = fetch(
        server,
        Some(&bob),
        &file_path(&report_file),
        Some("bytes=1000-1999"),
    )
    .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, report[1000..2000]);
    assert_eq!(
        part.headers[header::CONTENT_RANGE],
        format!("bytes 1000-1999/{}", report.len())
    );
    let image = fetch(server, Some(&bob), &file_path(&photo_file), None).await;
    assert_eq!(
        sha(&image.body),
        sha(&photo),
        "a photo with nothing to strip is kept as it is"
    );
    assert_eq!(image.headers[header::CONTENT_TYPE], "image/png");
    let thumb = fetch(server, Some(&bob), &thumb_path(&photo_file), None).await;
    assert_eq!(thumb.status, StatusCode::OK);
    let small = image::load_from_memory(&thumb.body).unwrap();
    assert_eq!(small.dimensions(), (400, 200));

    // Deleting the message erases its files: blobs, thumbnail, rows.
    author.change(delete("general", seq, "delete-it")).await;
    for key in [
        id(&report_file),
        id(&photo_file),
        format!("{}.thumb", id(&photo_file)),
    ] {
        eventually(PATIENCE, format!("{key} to be erased"), || async {
            !store.holds(&key).await
        })
        .await;
    }
    assert_eq!(
        fetch(server, Some(&bob), &file_path(&report_file), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let listed: FilesPage = api(server, &bob, "room_files", &[("room", "general")]).await;
    assert!(listed.files.is_empty(), "{listed:?}");
}

async fn files_on_disk(url: String) {
    let dir = temp_dir("banter_files");
    let dir_flag = dir.display().to_string();
    let server = TestServer::start_with(&url, &["--uploads-dir", &dir_flag]);
    files_live_and_die(&server, Store::Disk(&dir)).await;
}

async fn files_on_s3(url: String) {
    let moto = Moto::start().await;
    let flags = moto.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = TestServer::start_with(&url, &flags);
    files_live_and_die(&server, Store::S3(&moto)).await;
}

/// An upload no message claims is erased once its time is up.
async fn unclaimed_uploads_are_collected(url: String) {
    let dir = temp_dir("banter_files");
    let dir_flag = dir.display().to_string();
    let server =
        TestServer::start_with(&url, &["--uploads-dir", &dir_flag, "--unclaimed-secs", "1"]);
    let alice = token_for(&server, "alice").await;
    let file = stored(&server, &alice, "general", "left.bin", binary(5000)).await;
    assert_eq!(
        fetch(&server, Some(&alice), &file_path(&file), None)
            .await
            .status,
        StatusCode::OK
    );
    eventually(PATIENCE, "the unclaimed upload to be collected", || async {
        !dir.join(id(&file)).exists()
    })
    .await;
    assert_eq!(
        fetch(&server, Some(&alice), &file_path(&file), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Nor can a post claim it any more.
    let mut client = Client::connect(&server, &alice).await;
    client
        .send(send_with_files("general", "late", &[id(&file)], "late"))
        .await;
    assert_eq!(client.until_type("error").await["code"], "invalid_message");
}

/// Owner, member, outsider, removed member, banned account, logged-out browser, unknown
/// id: who may read a private room's file and its thumbnail, and the one answer for all
/// the others, byte for byte.
async fn who_may_read_a_file(url: String) {
    let server = TestServer::start(&url);
    let owner = token_for(&server, "owner").await;
    let member = token_for(&server, "member").await;
    let removed = token_for(&server, "removed").await;
    let banned = token_for(&server, "banned").await;
    let outsider = token_for(&server, "outsider").await;
    let _: Value = api(
        &server,
        &owner,
        "create_room",
        &[("name", "vault"), ("private", "true")],
    )
    .await;
    for name in ["member", "removed", "banned"] {
        let _: Value = api(
            &server,
            &owner,
            "invite",
            &[("room", "vault"), ("username", name)],
        )
        .await;
    }
    let file = stored(&server, &owner, "vault", "plan.png", png(800, 800)).await;
    let paths = [file_path(&file), thumb_path(&file)];

    let refusal = fetch(
        &server,
        None,
        "/files/00000000000000000000000000000000/x",
        None,
    )
    .await;
    assert_eq!(refusal.status, StatusCode::NOT_FOUND);
    let refused = |who: &str, fetched: &Fetched| {
        assert_eq!(fetched.status, StatusCode::NOT_FOUND, "{who}");
        assert_eq!(
            fetched.body, refusal.body,
            "{who} learns nothing from the answer"
        );
    };
    // Unsent, it is its uploader's alone.
    for path in &paths {
        assert_eq!(
            fetch(&server, Some(&owner), path, None).await.status,
            StatusCode::OK
        );
        refused(
            "a member, before it is sent",
            &fetch(&server, Some(&member), path, None).await,
        );
    }
    let mut client = Client::connect(&server, &owner).await;
    client
        .change(send_with_files("vault", "", &[id(&file)], "plan"))
        .await;
    let _: Value = api(
        &server,
        &owner,
        "remove_member",
        &[("room", "vault"), ("username", "removed")],
    )
    .await;
    let _: Value = api(&server, &owner, "ban", &[("username", "banned")]).await;

    for path in &paths {
        for (who, token) in [("the owner", &owner), ("a member", &member)] {
            let fetched = fetch(&server, Some(token), path, None).await;
            assert_eq!(fetched.status, StatusCode::OK, "{who} {path}");
        }
        for (who, token) in [
            ("an outsider", Some(&outsider)),
            ("a removed member", Some(&removed)),
            ("a banned account", Some(&banned)),
            ("a logged-out browser", None),
        ] {
            refused(
                who,
                &fetch(&server, token.map(String::as_str), path, None).await,
            );
        }
    }
    for path in [
        "/files/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/plan.png",
        "/thumbs/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "/files/bad/x",
    ] {
        refused(path, &fetch(&server, Some(&owner), path, None).await);
    }
    // The Files view of a private room is as closed as the room.
    let (status, _) = call(&server, &outsider, "room_files", &[("room", "vault")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A PNG header of `width`×`height` 1-bit pixels, all zero: a few KB that would take
/// width×height×4 bytes to decode.
fn bomb(width: u32, height: u32) -> Vec<u8> {
    use std::io::Write;
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
        out
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // 1-bit greyscale
    let row = vec![0u8; 1 + width.div_ceil(8) as usize];
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..height {
        encoder.write_all(&row).unwrap();
    }
    let idat = encoder.finish().unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    out.extend(chunk(b"IDAT", &idat));
    out.extend(chunk(b"IEND", &[]));
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// 413 from the announced length and from a chunked body crossing the limit, nothing
/// kept of either; the quota on unsent uploads; a decompression bomb refused from its
/// header; the rate at which uploads may start.
async fn upload_limits(url: String) {
    let dir = temp_dir("banter_files");
    let dir_flag = dir.display().to_string();
    let server = TestServer::start_with(
        &url,
        &[
            "--uploads-dir",
            &dir_flag,
            "--max-upload-mb",
            "1",
            "--upload-quota-mb",
            "3",
        ],
    );
    let alice = token_for(&server, "alice").await;
    let over = binary(1024 * 1024 + 1);

    let (status, body) = upload(&server, &alice, "general", "big.bin", over.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["message"].as_str().unwrap().contains("1 MB"), "{body}");

    // No length announced: the limit is crossed on the way.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        over.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let response = reqwest::Client::new()
        .post(server.url("/api/files"))
        .query(&[("room", "general"), ("name", "streamed.bin")])
        .bearer_auth(&alice)
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let kept = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(kept, 0, "nothing of a refused upload is kept");

    // The quota counts what is not sent yet.
    for i in 0..3 {
        stored(
            &server,
            &alice,
            "general",
            &format!("part{i}.bin"),
            binary(1000 * 1000),
        )
        .await;
    }
    let (status, body) = upload(
        &server,
        &alice,
        "general",
        "one-more.bin",
        binary(1000 * 1000),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("not yet sent"),
        "{body}"
    );

    let bob = token_for(&server, "bob").await;
    let bomb = bomb(20_000, 20_000);
    assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
    let started = std::time::Instant::now();
    let (status, body) = upload(&server, &bob, "general", "bomb.png", bomb).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("20000×20000"),
        "{body}"
    );
    // Not a timing promise, a sanity bound: decoding it would take minutes and 1.6 GB.
    assert!(started.elapsed() < PATIENCE);

    // Start rate: a burst, then refused.
    let rated = TestServer::start_with(&url, &["--uploads-per-minute", "3"]);
    let carol = token_for(&rated, "carol").await;
    for i in 0..3 {
        stored(
            &rated,
            &carol,
            "general",
            &format!("{i}.txt"),
            b"hello".to_vec(),
        )
        .await;
    }
    let (status, _) = upload(&rated, &carol, "general", "3.txt", b"hello".to_vec()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Nor may anyone upload to a room they cannot read.
    let (status, _) = upload(&rated, &carol, "nowhere", "x.txt", b"x".to_vec()).await;
    assert!(status == StatusCode::NOT_FOUND || status == StatusCode::TOO_MANY_REQUESTS);
}

/// SVG with a script, an HTML page, and HTML named `.png`: each served as a download
/// with the sandboxing headers, never as something a browser would run.
async fn dangerous_files_are_downloads(url: String) {
    let server = TestServer::start(&url);
    let alice = token_for(&server, "alice").await;
    let svg = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let html = b"<!doctype html><html><body><script>alert(1)</script></body></html>";
    for (name, bytes) in [
        ("drawing.svg", &svg[..]),
        ("page.html", &html[..]),
        ("innocent.png", &html[..]),
    ] {
        let file = stored(&server, &alice, "general", name, bytes.to_vec()).await;
        assert!(file.get("width").is_none(), "{name} is no image: {file}");
        let fetched = fetch(&server, Some(&alice), &file_path(&file), None).await;
        assert_eq!(fetched.status, StatusCode::OK);
        let h = &fetched.headers;
        assert_eq!(
            h[header::CONTENT_TYPE],
            "application/octet-stream",
            "{name}"
        );
        let disposition = h[header::CONTENT_DISPOSITION].to_str().unwrap();
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        assert!(
            disposition.contains(&format!("filename*=UTF-8''{name}")),
            "{disposition}"
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(
            h[header::CONTENT_SECURITY_POLICY],
            "sandbox; default-src 'none'"
        );
        assert!(h[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .starts_with("private"));
        assert_eq!(fetched.body, bytes);
    }
    let picture = stored(&server, &alice, "general", "real.png", png(10, 10)).await;
    let fetched = fetch(&server, Some(&alice), &file_path(&picture), None).await;
    assert_eq!(fetched.headers[header::CONTENT_TYPE], "image/png");
    assert!(fetched.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .starts_with("inline;"));
    assert_eq!(
        fetched.headers[header::CONTENT_SECURITY_POLICY],
        "sandbox; default-src 'none'"
    );
}

/// A JPEG whose EXIF says "turn me 90° clockwise" and where it was taken.
fn phone_photo() -> Vec<u8> {
    // 40×20 as stored: red left half, blue right half.
    let raw = image::RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(&raw)
        .unwrap();
    // TIFF, big-endian: IFD0 with Orientation = 6 and a pointer to a GPS IFD.
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
    tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    // GPS IFD: latitude reference "N", and a marker the test looks for.
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(b"GPS-SECRET-PLACE");
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

async fn photos_lose_exif_and_stand_upright(url: String) {
    let server = TestServer::start(&url);
    let alice = token_for(&server, "alice").await;
    let photo = phone_photo();
    let file = stored(&server, &alice, "general", "IMG_0001.jpg", photo).await;
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(20), Some(40)),
        "{file}"
    );
    let served = fetch(&server, Some(&alice), &file_path(&file), None)
        .await
        .body;
    let contains = |needle: &[u8]| served.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(b"Exif"), "EXIF is gone");
    assert!(
        !contains(b"GPS-SECRET-PLACE"),
        "and with it where it was taken"
    );
    let image = image::ImageReader::new(Cursor::new(&served))
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap()
        .to_rgb8();
    assert_eq!(image.dimensions(), (20, 40));
    // Turned clockwise: what was the left (red) is now the top.
    let top = image.get_pixel(10, 4);
    let bottom = image.get_pixel(10, 35);
    assert!(top[0] > 200 && top[2] < 60, "top {top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 60, "bottom {bottom:?}");
}

/// Posts the composer's plain form as a browser without JavaScript would; the redirect
/// it answers with.
async fn post_form(server: &TestServer, token: &str, form: reqwest::multipart::Form) -> String {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(server.url("/api/post_form"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string()
}

/// The form without JavaScript: message and file in one multipart post.
async fn the_plain_form_posts_a_file(url: String) {
    let server = TestServer::start(&url);
    let alice = token_for(&server, "alice").await;
    let form = reqwest::multipart::Form::new()
        .text("room", "general")
        .text("client_id", "form-1")
        .text("body", "see attached")
        .part(
            "files",
            reqwest::multipart::Part::bytes(b"plain notes".to_vec()).file_name("notes.txt"),
        );
    assert_eq!(post_form(&server, &alice, form).await, "/r/general");
    let history: Value = api(&server, &alice, "history", &[("room", "general")]).await;
    let last = history["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["body"], "see attached");
    assert_eq!(last["files"][0]["name"], "notes.txt", "{last}");
    assert_eq!(last["files"][0]["content_type"], "text/plain");
    // A refusal comes back to the room, in words.
    let form = reqwest::multipart::Form::new()
        .text("room", "general")
        .text("client_id", "form-2")
        .text("body", "   ");
    let location = post_form(&server, &alice, form).await;
    assert!(location.starts_with("/r/general?post_error="), "{location}");

    // Scripts attach through `post_message`, the ids comma-separated.
    let one = id(&stored(&server, &alice, "general", "a.txt", b"a".to_vec()).await);
    let two = id(&stored(&server, &alice, "general", "b.txt", b"b".to_vec()).await);
    let files = format!("{one},{two}");
    let _: Value = api(
        &server,
        &alice,
        "post_message",
        &[
            ("room", "general"),
            ("client_id", "script-1"),
            ("body", ""),
            ("files", &files),
        ],
    )
    .await;
    let history: Value = api(&server, &alice, "history", &[("room", "general")]).await;
    let last = history["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let names: Vec<&str> = last["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.txt", "b.txt"], "{last}");
}

on_both_backends!(
    files_on_disk,
    files_on_s3,
    unclaimed_uploads_are_collected,
    who_may_read_a_file,
    photos_lose_exif_and_stand_upright,
);

mod single {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upload_limits() {
        crate::common::with_test_db(crate::common::Backend::Sqlite, super::upload_limits).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dangerous_files_are_downloads() {
        crate::common::with_test_db(
            crate::common::Backend::Sqlite,
            super::dangerous_files_are_downloads,
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_plain_form_posts_a_file() {
        crate::common::with_test_db(
            crate::common::Backend::Sqlite,
            super::the_plain_form_posts_a_file,
        )
        .await;
    }
}
