//! `uploads`: what files cost the server. One big file streamed without a length while
//! the server's resident memory is sampled (how much of a file it holds at once), then
//! many files of one size with a few in flight (files and megabytes per second, latency),
//! then photos, which the server decodes, strips and thumbnails (its CPU time per image).

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures_util::{stream, StreamExt};

use crate::{
    client,
    procstat::{rss_kib, CpuMeter},
    report,
};

pub struct Args {
    /// MB (2^20 bytes) of the big file; 0 skips it.
    pub big_mb: u64,
    pub size: usize,
    pub count: usize,
    pub concurrency: usize,
    pub images: usize,
    pub server_pid: Option<u32>,
}

/// Pseudo-random bytes: nothing compresses or sniffs them, and each file differs.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if i == 3 {
                0
            } else {
                state as u8
            }
        })
        .collect()
}

/// A 3000×2000 PNG photo stand-in: smooth gradients with noise, so it compresses like
/// a picture and not like a blank page.
fn photo(seed: u64) -> Vec<u8> {
    use std::io::Write;
    let (width, height) = (3000u32, 2000u32);
    let mut raw = Vec::with_capacity((width as usize * 3 + 1) * height as usize);
    let grain = noise(seed, width as usize * 3);
    for y in 0..height {
        raw.push(0);
        for x in 0..width {
            let g = grain[(x as usize * 3 + y as usize) % grain.len()] / 16;
            raw.extend_from_slice(&[
                (x * 255 / width) as u8 ^ g,
                (y * 255 / height) as u8,
                ((x + y) % 256) as u8 ^ g,
            ]);
        }
    }
    let mut idat = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    idat.write_all(&raw).expect("in memory");
    let idat = idat.finish().expect("in memory");
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        let mut crc = flate2::Crc::new();
        crc.update(&body);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc.sum().to_be_bytes());
        out
    };
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &header));
    png.extend(chunk(b"IDAT", &idat));
    png.extend(chunk(b"IEND", &[]));
    png
}

async fn upload(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    name: &str,
    body: reqwest::Body,
) -> bool {
    match http
        .post(format!("{url}/api/files"))
        .query(&[("room", "general"), ("name", name)])
        .bearer_auth(token)
        .body(body)
        .send()
        .await
    {
        Ok(response) if response.status().as_u16() == 201 => true,
        Ok(response) => {
            eprintln!("upload {name}: {}", response.status());
            false
        }
        Err(error) => {
            eprintln!("upload {name}: {error}");
            false
        }
    }
}

/// `false` when an upload failed.
pub async fn run(url: &str, args: Args) -> bool {
    let http = reqwest::Client::new();
    let run = client::run_id();
    let token = client::register(&http, url, &format!("lt{run}-up")).await;
    let mut ok = true;
    let mut rows = Vec::new();

    if args.big_mb > 0 {
        // Streamed in 64 KiB chunks with no Content-Length, as a browser's chunked
        // upload or a slow client would send it; RSS sampled every 10 ms meanwhile.
        let before = args.server_pid.and_then(rss_kib);
        let peak = Arc::new(AtomicU64::new(before.unwrap_or(0)));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = args.server_pid.map(|pid| {
            let (peak, done) = (peak.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        });
        let chunk = 64 * 1024;
        let chunks = (args.big_mb * 1024 * 1024) as usize / chunk;
        let body = stream::iter(0..chunks)
            .map(move |i| Ok::<_, std::io::Error>(noise(i as u64 + 7, chunk)));
        let started = Instant::now();
        ok &= upload(
            &http,
            url,
            &token,
            "big.bin",
            reqwest::Body::wrap_stream(body),
        )
        .await;
        let took = started.elapsed();
        done.store(true, Ordering::Relaxed);
        if let Some(sampler) = sampler {
            let _ = sampler.await;
        }
        let growth = before.map(|before| peak.load(Ordering::Relaxed).saturating_sub(before));
        println!(
            "uploads: {} MB streamed in {:.2} s; server RSS growth during it {}",
            args.big_mb,
            took.as_secs_f64(),
            report::or_na(growth.map(|kib| format!("{:.1} MB", kib as f64 / 1024.0)))
        );
        rows.push(vec![
            format!("1 × {} MB, streamed", args.big_mb),
            format!("{:.1}", args.big_mb as f64 / took.as_secs_f64()),
            "-".into(),
            format!("{:.0}", took.as_secs_f64() * 1000.0),
            "-".into(),
            report::or_na(growth.map(|kib| format!("{:.1} MB RSS growth", kib as f64 / 1024.0))),
        ]);
    }

    // Many files of one size, `concurrency` in flight.
    let bodies: Vec<Vec<u8>> = (0..args.count)
        .map(|i| noise(i as u64 + 1000, args.size))
        .collect();
    let mut latency = report::histogram();
    let cpu = args.server_pid.map(CpuMeter::start);
    let started = Instant::now();
    let results: Vec<(bool, Duration)> = stream::iter(bodies.into_iter().enumerate())
        .map(|(i, body)| {
            let (http, token) = (http.clone(), token.clone());
            async move {
                let at = Instant::now();
                let ok = upload(&http, url, &token, &format!("f{i}.bin"), body.into()).await;
                (ok, at.elapsed())
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let took = started.elapsed().as_secs_f64();
    for (fine, at) in &results {
        ok &= fine;
        let _ = latency.record(at.as_micros() as u64);
    }
    let per_second = args.count as f64 / took;
    let cpu_per = cpu
        .and_then(|c| c.used())
        .map(|s| format!("{:.2} ms CPU/file", s * 1000.0 / args.count as f64));
    println!(
        "uploads: {} files of {} bytes, {} at once: {:.0} files/s, {:.1} MB/s",
        args.count,
        args.size,
        args.concurrency,
        per_second,
        per_second * args.size as f64 / 1e6
    );
    rows.push(vec![
        format!(
            "{} × {:.1} MB, {} at once",
            args.count,
            args.size as f64 / 1e6,
            args.concurrency
        ),
        format!("{:.1}", per_second * args.size as f64 / 1e6),
        format!("{per_second:.0}"),
        format!("{:.1}", report::ms(&latency, 0.5)),
        format!("{:.1}", report::ms(&latency, 0.99)),
        report::or_na(cpu_per),
    ]);

    if args.images > 0 {
        // One at a time: the CPU per image, not the pool's parallelism.
        let photos: Vec<Vec<u8>> = (0..args.images).map(|i| photo(i as u64 + 1)).collect();
        let bytes: usize = photos.iter().map(Vec::len).sum();
        let mut latency = report::histogram();
        let cpu = args.server_pid.map(CpuMeter::start);
        for (i, photo) in photos.into_iter().enumerate() {
            let at = Instant::now();
            ok &= upload(&http, url, &token, &format!("p{i}.png"), photo.into()).await;
            let _ = latency.record(at.elapsed().as_micros() as u64);
        }
        let cpu_per = cpu
            .and_then(|c| c.used())
            .map(|s| format!("{:.0} ms CPU/image", s * 1000.0 / args.images as f64));
        println!(
            "uploads: {} photos of 3000×2000 ({:.1} MB each): p50 {:.0} ms each, {}",
            args.images,
            bytes as f64 / args.images as f64 / 1e6,
            report::ms(&latency, 0.5),
            report::or_na(cpu_per.clone())
        );
        rows.push(vec![
            format!("{} photos 3000×2000 PNG, one at a time", args.images),
            "-".into(),
            "-".into(),
            format!("{:.0}", report::ms(&latency, 0.5)),
            format!("{:.0}", report::ms(&latency, 0.99)),
            report::or_na(cpu_per),
        ]);
    }
    report::table(
        &["uploads", "MB/s", "files/s", "p50 ms", "p99 ms", "server"],
        &rows,
    );
    ok
}
