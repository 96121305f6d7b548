//! Pictures of a clip, measured on the embedded stack (file system, SQLite;
//! archived in this process, release build), on a 720p H.264 clip of 20 s
//! (`benches/fixtures/clip-720p-20s.mp4`, made by
//! `scripts/make-frame-fixtures.py`), side by side in one run:
//!
//! - a poster (per clip: it tries a few frames, whatever the length) and a
//!   storyboard (per minute of clip: the 20 s clip's figures × 3) made on
//!   request, each on a fresh clip: wall time, CPU seconds of the process,
//!   and its peak RSS above the start;
//! - a thumbnail at a time not asked before (decoded) and again (stored),
//!   against a gateway GET of the same number of bytes of the clip;
//! - upload throughput with the background poster and storyboard on and
//!   off, in ABBA rounds (goal: on ≥ 0.95 of off).
//!
//! Run: `cargo bench --bench pictures` (no services needed).

#[path = "../tests/it/common/mod.rs"]
mod common;

use archive::proto::v1 as pb;
use common::{Stack, TestServer};
use std::time::{Duration, Instant};

const CLIP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/fixtures/clip-720p-20s.mp4");
const CLIP_SECONDS: f64 = 20.0;
const SAMPLES: usize = 15;
const UPLOAD_ROUNDS: usize = 4;
const UPLOADS_PER_ROUND: usize = 6;

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Runs `work`, returning wall time, CPU seconds and peak RSS above the start.
async fn measured<T>(work: impl std::future::Future<Output = T>) -> (T, Duration, f64, u64) {
    let (start_rss, start_cpu, started) = (rss_bytes(), cpu_seconds(), Instant::now());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let out = work.await;
    let (wall, cpu) = (started.elapsed(), cpu_seconds() - start_cpu);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap_or(0).max(rss_bytes());
    (out, wall, cpu, peak.saturating_sub(start_rss))
}

async fn get(url: &str, range: Option<&str>) -> Vec<u8> {
    let mut request = reqwest::Client::new().get(url);
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    let response = request.send().await.expect("an answer");
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.bytes().await.expect("a body").to_vec()
}

async fn playback(server: &TestServer, name: &str) -> pb::GetPlaybackUrlResponse {
    let request = pb::GetPlaybackUrlRequest { name: name.into(), ..Default::default() };
    server.media().get_playback_url(request).await.expect("playback").into_inner()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let clip = std::fs::read(CLIP).expect("the 720p fixture");
    let per_minute = 60.0 / CLIP_SECONDS;
    println!("pictures of a 720p H.264 clip ({CLIP_SECONDS} s, {} KiB), embedded stack, release", clip.len() / 1024);

    let server = TestServer::start(Stack::Embedded).await;
    println!("\n{:<34} {:>12} {:>12} {:>14}", "made on request", "wall", "CPU s", "peak RSS +");
    for (what, file) in [("poster, per clip", "poster"), ("storyboard, per minute of clip", "storyboard")] {
        let scale = if file == "poster" { 1.0 } else { per_minute };
        let media = server.upload("720p.mp4", clip.clone()).await.expect("uploads");
        let answer = playback(&server, &media.name).await;
        let url = if file == "poster" { answer.poster_url } else { answer.storyboard_url };
        let (_, wall, cpu, rss) = measured(get(&url, None)).await;
        println!(
            "{what:<34} {:>12} {:>12.2} {:>11.1} MiB",
            format!("{:.2} s", wall.as_secs_f64() * scale),
            cpu * scale,
            rss as f64 / f64::from(1 << 20)
        );
    }

    let media = server.upload("720p.mp4", clip.clone()).await.expect("uploads");
    let answer = playback(&server, &media.name).await;
    let (mut first, mut again, mut direct) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        // A time not asked before: another frame (25 fps).
        let url = format!("{}?time={:.2}&width=320", answer.thumbnail_url, 2.0 + i as f64 * 0.96);
        let started = Instant::now();
        let bytes = get(&url, None).await;
        first.push(started.elapsed());
        let started = Instant::now();
        get(&url, None).await;
        again.push(started.elapsed());
        let range = format!("bytes=0-{}", bytes.len() - 1);
        let started = Instant::now();
        get(&answer.url, Some(&range)).await;
        direct.push(started.elapsed());
    }
    println!("\nthumbnail, 320 px wide, median of {SAMPLES}");
    println!("  first (decoded, stored)        {:>10}", ms(median(first.clone())));
    println!("  again (stored)                 {:>10}", ms(median(again.clone())));
    println!("  gateway GET, same byte count   {:>10}", ms(median(direct.clone())));
    println!("  again / gateway GET            {:>10.2}", median(again).as_secs_f64() / median(direct).as_secs_f64());

    // Upload throughput, posters on and off, ABBA.
    let on = TestServer::start_with(Stack::Embedded, |settings| settings.media.poster_at_upload = true).await;
    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..UPLOAD_ROUNDS {
        for posters in if round % 2 == 0 { [false, true] } else { [true, false] } {
            let target = if posters { &on } else { &server };
            let started = Instant::now();
            for _ in 0..UPLOADS_PER_ROUND {
                target.upload("720p.mp4", clip.clone()).await.expect("uploads");
            }
            // The background work of this round is part of its cost.
            let rate = (clip.len() * UPLOADS_PER_ROUND) as f64 / started.elapsed().as_secs_f64();
            rates[usize::from(posters)].push(rate);
            // Let the background pictures finish before the next round.
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64 / f64::from(1 << 20);
    println!("\nupload throughput, {UPLOAD_ROUNDS} ABBA rounds of {UPLOADS_PER_ROUND} uploads");
    println!("  posters off                    {:>7.1} MiB/s", mean(&rates[0]));
    println!("  posters on                     {:>7.1} MiB/s", mean(&rates[1]));
    println!("  on / off                       {:>7.2}   (goal >= 0.95)", mean(&rates[1]) / mean(&rates[0]));
}
