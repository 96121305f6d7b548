//! Media throughput on SeaweedFS: archived (release build, its own process)
//! against the same store used directly, side by side in one run:
//!
//! - UploadMedia of a clip vs a direct SDK multipart PUT (same part size and
//!   parts in flight);
//! - ReadMedia of it vs a direct SDK GET of the same object, and vs the
//!   same object read directly in archived's ranged GETs (its S3 store in
//!   the bench's process: what a client splitting its own reads gets);
//! - a media gateway GET (archived streaming from S3) vs a presigned GET;
//! - a tus upload (one-time URL, one PATCH) vs UploadMedia, both archived;
//! - peak archived RSS above idle during a large upload, over gRPC and tus.
//!
//! Each comparison runs in two layouts (`ARCHIVE_BENCH_LAYOUT`: `shared`,
//! `split` or `both`): everything sharing every core, and SeaweedFS pinned
//! to a core of its own (`taskset`), as a store on its own machines. Each
//! prints the best and median of five alternating rounds and the CPU
//! seconds per GiB of the client, archived and SeaweedFS on each side.
//!
//! Sizes: `ARCHIVE_BENCH_MIB` (1024) and `ARCHIVE_BENCH_RSS_MIB` (5120, 0
//! to skip); `ARCHIVE_BENCH_ROWS` picks comparisons (`upload,tus,read,playback`);
//! `ARCHIVE_BENCH_PART_MIB` (16) and `ARCHIVE_BENCH_PARTS_IN_FLIGHT` (2) for
//! both sides, `ARCHIVE_BENCH_CHUNK_KIB` (1024) for the client's chunks.
//! Run with the services the test command starts:
//! `ARCHIVE_TEST_RUNNER="cargo bench --bench media" scripts/test.sh`

#[path = "../tests/it/common/mod.rs"]
mod common;

use archive::{
    client::media_client,
    domain::signing::{SigningKey, UrlSigner},
    proto::v1::{self as pb, upload_media_request::Kind},
};
use aws_sdk_s3::{
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::task::JoinSet;

const MIB: u64 = 1024 * 1024;
/// Distinct pseudo-random bytes the clips cycle through.
const POOL: usize = 64 * 1024 * 1024;
/// Each comparison runs this many times, alternating (`ARCHIVE_BENCH_ROUNDS`).
fn rounds() -> usize {
    env_u64("ARCHIVE_BENCH_ROUNDS", 5) as usize
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Size of the chunks the client sends (`ARCHIVE_BENCH_CHUNK_KIB`, 1024 as archivectl).
fn chunk_bytes() -> usize {
    env_u64("ARCHIVE_BENCH_CHUNK_KIB", 1024) as usize * 1024
}

/// A clip of `len` bytes cut from the pool, chunk by chunk, without copying.
fn clip_chunks(pool: &Bytes, len: u64) -> impl Iterator<Item = Bytes> + Send + use<> {
    let pool = pool.clone();
    let chunk = chunk_bytes();
    let mut offset = 0u64;
    std::iter::from_fn(move || {
        if offset >= len {
            return None;
        }
        let start = (offset % pool.len() as u64) as usize;
        let take = (chunk as u64).min(len - offset).min((pool.len() - start) as u64) as usize;
        offset += take as u64;
        Some(pool.slice(start..start + take))
    })
}

fn clip_sha256(pool: &Bytes, len: u64) -> String {
    let mut hasher = Sha256::new();
    clip_chunks(pool, len).for_each(|chunk| hasher.update(&chunk));
    hex::encode(hasher.finalize())
}

fn upload_stream(pool: &Bytes, len: u64, filename: &str) -> impl Stream<Item = pb::UploadMediaRequest> + Send + use<> {
    let header = pb::UploadHeader {
        filename: filename.into(),
        content_type: "application/octet-stream".into(),
        ..Default::default()
    };
    let sha256 = clip_sha256(pool, len);
    let chunks = clip_chunks(pool, len).map(|chunk| pb::UploadMediaRequest { kind: Some(Kind::Chunk(chunk)) });
    let finish = pb::UploadFinish { size_bytes: len as i64, sha256, crc32c: None };
    futures::stream::iter(
        std::iter::once(pb::UploadMediaRequest { kind: Some(Kind::Header(header)) })
            .chain(chunks)
            .chain(std::iter::once(pb::UploadMediaRequest { kind: Some(Kind::Finish(finish)) })),
    )
}

type MediaClient = pb::media_service_client::MediaServiceClient<tonic::transport::Channel>;

/// Uploads a clip over tus as a browser would: a one-time URL, POST, then
/// one PATCH streaming the bytes. Returns the clip's name.
async fn tus_upload(media: &mut MediaClient, http: &reqwest::Client, pool: &Bytes, len: u64) -> String {
    let request = pb::CreateUploadUrlRequest { max_size_bytes: len as i64, ..Default::default() };
    let url = media.create_upload_url(request).await.expect("an upload URL").into_inner().upload_url;
    let created = http
        .post(&url)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", len.to_string())
        .header("Upload-Metadata", "filename YmVuY2guYmlu") // bench.bin
        .send()
        .await
        .expect("creates");
    assert_eq!(created.status(), 201);
    let body = futures::stream::iter(clip_chunks(pool, len).map(Ok::<_, std::io::Error>));
    let patched = http
        .patch(&url)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("uploads");
    assert_eq!(patched.status(), 204, "{:?}", patched.text().await);
    patched.headers()["archive-media"].to_str().unwrap().to_owned()
}

/// Whether `ARCHIVE_BENCH_ROWS` (default: every row) names this comparison.
fn row_chosen(name: &str) -> bool {
    std::env::var("ARCHIVE_BENCH_ROWS").map_or(true, |rows| rows.split(',').any(|row| row.trim() == name))
}

fn rate(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / MIB as f64 / elapsed.as_secs_f64()
}

/// The baseline upload: the SDK's own multipart calls, `parts_in_flight` at once.
async fn direct_put(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    pool: &Bytes,
    len: u64,
    part: u64,
    in_flight: usize,
) {
    let created = client.create_multipart_upload().bucket(bucket).key(key).send().await.expect("creates");
    let upload_id = created.upload_id().expect("id").to_owned();
    let mut tasks = JoinSet::new();
    let mut parts = Vec::new();
    let mut buffer = Vec::with_capacity(part as usize);
    let mut number = 0;
    let mut chunks = clip_chunks(pool, len).peekable();
    while chunks.peek().is_some() {
        buffer.reserve(part as usize);
        while (buffer.len() as u64) < part {
            let Some(chunk) = chunks.next() else { break };
            buffer.extend_from_slice(&chunk);
        }
        number += 1;
        while tasks.len() >= in_flight {
            parts.push(tasks.join_next().await.unwrap());
        }
        let (client, bucket, key, upload_id, body) = (
            client.clone(),
            bucket.to_owned(),
            key.to_owned(),
            upload_id.clone(),
            Bytes::from(std::mem::take(&mut buffer)),
        );
        tasks.spawn(async move {
            let sent = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(body))
                .send()
                .await
                .expect("part");
            CompletedPart::builder().e_tag(sent.e_tag().unwrap_or_default()).part_number(number).build()
        });
    }
    while let Some(done) = tasks.join_next().await {
        parts.push(done);
    }
    let mut parts: Vec<CompletedPart> = parts.into_iter().map(Result::unwrap).collect();
    parts.sort_by_key(|p| p.part_number());
    let completed = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(completed)
        .send()
        .await
        .expect("completes");
}

async fn direct_get(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> u64 {
    let mut body = client.get_object().bucket(bucket).key(key).send().await.expect("gets").body;
    let mut read = 0;
    while let Some(chunk) = body.next().await {
        read += chunk.expect("reads").len() as u64;
    }
    read
}

async fn ranged_get(store: &archive::blob::S3BlobStore, key: &archive::blob::BlobKey, len: u64) -> u64 {
    use archive::blob::BlobStore;
    let mut chunks = store.get(key, 0..len).await.expect("gets");
    let mut read = 0;
    while let Some(chunk) = chunks.next().await {
        read += chunk.expect("reads").len() as u64;
    }
    read
}

async fn read_media(
    media: &mut pb::media_service_client::MediaServiceClient<tonic::transport::Channel>,
    name: String,
) -> u64 {
    let request = pb::ReadMediaRequest { name, offset: 0, limit: 0 };
    let mut stream = media.read_media(request).await.expect("reads").into_inner();
    let mut read = 0;
    while let Some(chunk) = stream.message().await.expect("chunk") {
        read += chunk.data.len() as u64;
    }
    read
}

async fn http_get(http: &reqwest::Client, url: &str) -> u64 {
    let response = http.get(url).send().await.expect("GET");
    assert!(response.status().is_success(), "{url}: {}", response.status());
    let mut body = response.bytes_stream();
    let mut read = 0;
    while let Some(chunk) = body.next().await {
        read += chunk.expect("reads").len() as u64;
    }
    read
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
    kib.unwrap_or(0) * 1024
}

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which ends with ')'; utime and stime are the 14th and 15th.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = fields.get(11..13).map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum()).unwrap_or(0);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// The SeaweedFS server the test command started (`weed mini`), if found.
fn weed_pid() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        (comm.trim() == "weed").then_some(pid)
    })
}

/// CPU time of the processes on the data path: this client, archived and
/// SeaweedFS, in that order.
#[derive(Clone, Copy, Default)]
struct Cpu([Duration; 3]);

impl Cpu {
    fn now(pids: [u32; 3]) -> Self {
        Self(pids.map(cpu_time))
    }

    fn add_since(&mut self, start: Cpu, pids: [u32; 3]) {
        let now = Cpu::now(pids);
        for i in 0..3 {
            self.0[i] += now.0[i] - start.0[i];
        }
    }

    /// "client a + archived b + SeaweedFS c = total" in CPU seconds per GiB moved.
    fn per_gib(&self, bytes: u64) -> String {
        let gib = bytes as f64 / (1024.0 * MIB as f64);
        let [client, archived, weed] = self.0.map(|t| t.as_secs_f64() / gib);
        format!("{client:.2} + {archived:.2} + {weed:.2} = {:.2}", client + archived + weed)
    }
}

struct Row {
    what: &'static str,
    /// Every round's rate (MiB/s), per side.
    archived: Vec<f64>,
    direct: Vec<f64>,
    /// CPU spent per side over all rounds: (archived, direct).
    cpu: (Cpu, Cpu),
}

/// Waits until SeaweedFS is idle (under 5% of a core over 200 ms, for at
/// most 20 s): after a write it goes on working for a while (flushing,
/// compacting), and that work must not be billed to whichever side runs
/// next.
async fn settle(store: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let before = cpu_time(store);
        tokio::time::sleep(Duration::from_millis(200)).await;
        if cpu_time(store) - before <= Duration::from_millis(10) || Instant::now() > deadline {
            return;
        }
    }
}

/// Times both sides `rounds()` times, alternating which goes first, and
/// returns each run's rate and the CPU each side cost.
async fn compare<A, FA, D, FD>(what: &'static str, pids: [u32; 3], len: u64, mut archived: A, mut direct: D) -> Row
where
    A: FnMut(usize) -> FA,
    FA: Future<Output = ()>,
    D: FnMut(usize) -> FD,
    FD: Future<Output = ()>,
{
    let mut row = Row { what, archived: Vec::new(), direct: Vec::new(), cpu: Default::default() };
    for round in 0..rounds() {
        for side in [round % 2, 1 - round % 2] {
            settle(pids[2]).await;
            let (started, cpu) = (Instant::now(), Cpu::now(pids));
            if side == 0 {
                archived(round).await;
                row.archived.push(rate(len, started.elapsed()));
                row.cpu.0.add_since(cpu, pids);
            } else {
                direct(round).await;
                row.direct.push(rate(len, started.elapsed()));
                row.cpu.1.add_since(cpu, pids);
            }
        }
    }
    row
}

/// Peak RSS of a fresh archived above its idle RSS while it takes one
/// `len`-byte upload, sampled every 10 ms; and the upload's rate.
async fn peak_rss_during_upload(dir: &std::path::Path, env: &[(String, String)], pool: &Bytes, len: u64, tus: bool) {
    let server = common::spawn_archived(dir, env);
    let mut media = media_client(server.channel().await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_bytes(server.pid());
    let peak = Arc::new(AtomicU64::new(idle));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), server.pid());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let (started, cpu_before) = (Instant::now(), cpu_time(server.pid()));
    if tus {
        tus_upload(&mut media, &reqwest::Client::new(), pool, len).await;
    } else {
        media.upload_media(upload_stream(pool, len, "big.bin")).await.expect("uploads the large clip");
    }
    let (elapsed, cpu) = (started.elapsed(), cpu_time(server.pid()) - cpu_before);
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    let peak = peak.load(Ordering::Relaxed);
    println!(
        "{} MiB upload ({}) to a fresh archived: {:.0} MiB/s, archived CPU {:.2} s per GiB; \
         RSS idle {:.1} MiB, peak {:.1} MiB: +{:.1} MiB above idle",
        len / MIB,
        if tus { "tus" } else { "UploadMedia" },
        rate(len, elapsed),
        cpu.as_secs_f64() / (len as f64 / (1024.0 * MIB as f64)),
        idle as f64 / MIB as f64,
        peak as f64 / MIB as f64,
        (peak - idle) as f64 / MIB as f64
    );
}

/// Where the processes run. `Shared`: client, archived and SeaweedFS share
/// every core, as on a developer's machine. `Split`: SeaweedFS has the last
/// core to itself and the client and archived the others, as in production,
/// where the store runs on machines of its own.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layout {
    Shared,
    Split,
}

impl Layout {
    /// `ARCHIVE_BENCH_LAYOUT`: `shared`, `split` or `both` (the default).
    fn chosen() -> Vec<Layout> {
        match std::env::var("ARCHIVE_BENCH_LAYOUT").as_deref() {
            Ok("shared") => vec![Layout::Shared],
            Ok("split") => vec![Layout::Split],
            _ => vec![Layout::Shared, Layout::Split],
        }
    }

    /// Sets the CPU affinity of every thread of the client, archived and
    /// SeaweedFS (`pids`, in that order) with `taskset`.
    fn apply(self, pids: [u32; 3]) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let all = format!("0-{}", cores - 1);
        let (ours, store) = match self {
            Layout::Shared => (all.clone(), all),
            Layout::Split => {
                assert!(cores >= 2, "the split layout needs two cores");
                (format!("0-{}", cores - 2), (cores - 1).to_string())
            }
        };
        for (pid, list) in pids.into_iter().zip([&ours, &ours, &store]) {
            let status = std::process::Command::new("taskset")
                .args(["-a", "-p", "-c", list, &pid.to_string()])
                .stdout(std::process::Stdio::null())
                .status()
                .expect("taskset (util-linux) runs");
            assert!(status.success(), "taskset -a -p -c {list} {pid}");
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Layout::Shared => "client, archived and SeaweedFS share every core",
            Layout::Split => "SeaweedFS on a core of its own, client and archived on the others",
        }
    }
}

struct Bench {
    len: u64,
    part: u64,
    in_flight: usize,
    pool: Bytes,
    media: MediaClient,
    s3: aws_sdk_s3::Client,
    /// archived's S3 store with the default read ranges, used directly.
    store: archive::blob::S3BlobStore,
    bucket: String,
    gateway: String,
    pids: [u32; 3],
}

impl Bench {
    /// The three comparisons; `salt` keeps each run's bytes distinct, so
    /// that archived does not deduplicate them.
    async fn run(&self, salt: usize) -> Vec<Row> {
        let Bench { len, part, in_flight, pool, media, s3, store, bucket, pids, .. } = self;
        let (len, part, in_flight, pids) = (*len, *part, *in_flight, *pids);
        let mut rows = Vec::new();
        let clip = std::cell::RefCell::new(None);
        let direct_key = format!("bench/direct-{salt}");
        if row_chosen("upload") {
            let row = compare(
                "upload (UploadMedia vs SDK multipart PUT)",
                pids,
                len,
                |round| {
                    let (mut media, clip) = (media.clone(), &clip);
                    let messages = upload_stream(&pool.slice(salt + 2 * round + 1..), len, "bench.bin");
                    async move {
                        let uploaded = media.upload_media(messages).await.expect("uploads");
                        *clip.borrow_mut() = uploaded.into_inner().media;
                    }
                },
                |round| {
                    let (bytes, key) = (pool.slice(salt + 2 * round + 2..), format!("{direct_key}-{round}"));
                    async move { direct_put(s3, bucket, &key, &bytes, len, part, in_flight).await }
                },
            )
            .await;
            rows.push(row);
        } else {
            let messages = upload_stream(&pool.slice(salt + 1..), len, "bench.bin");
            *clip.borrow_mut() = media.clone().upload_media(messages).await.expect("uploads").into_inner().media;
        }
        let clip = clip.into_inner().expect("a clip");
        if row_chosen("tus") {
            let http = reqwest::Client::new();
            let row = compare(
                "upload (tus PATCH vs UploadMedia)",
                pids,
                len,
                |round| {
                    let (mut media, http) = (media.clone(), &http);
                    let bytes = pool.slice(salt + 2 * round + 3 * rounds() + 1..);
                    async move {
                        tus_upload(&mut media, http, &bytes, len).await;
                    }
                },
                |round| {
                    let mut media = media.clone();
                    let messages = upload_stream(&pool.slice(salt + 2 * round + 3 * rounds() + 2..), len, "bench.bin");
                    async move {
                        media.upload_media(messages).await.expect("uploads");
                    }
                },
            )
            .await;
            rows.push(row);
        }

        // The same object both ways: the one archived stored for the clip.
        let prefix = format!("{}/original-", clip.name);
        let listed = s3.list_objects_v2().bucket(bucket.as_str()).prefix(&prefix).send().await.expect("lists");
        let object_key = listed.contents().first().and_then(|o| o.key()).expect("the clip's object").to_owned();
        if row_chosen("read") {
            let row = compare(
                "read (ReadMedia vs SDK GET)",
                pids,
                len,
                |_| {
                    let (mut media, name) = (media.clone(), clip.name.clone());
                    async move { assert_eq!(read_media(&mut media, name).await, len) }
                },
                |_| async { assert_eq!(direct_get(s3, bucket, &object_key).await, len) },
            )
            .await;
            rows.push(row);
        }
        if row_chosen("read") {
            let key = archive::blob::BlobKey::parse(&object_key).expect("a key archived wrote");
            let row = compare(
                "read (ReadMedia vs same ranged GETs direct)",
                pids,
                len,
                |_| {
                    let (mut media, name) = (media.clone(), clip.name.clone());
                    async move { assert_eq!(read_media(&mut media, name).await, len) }
                },
                |_| async { assert_eq!(ranged_get(store, &key, len).await, len) },
            )
            .await;
            rows.push(row);
        }
        if !row_chosen("playback") {
            return rows;
        }

        // Playback: the gateway streaming from S3 vs a presigned GET.
        let http = reqwest::Client::new();
        let presigned = media
            .clone()
            .get_playback_url(pb::GetPlaybackUrlRequest { name: clip.name.clone(), ..Default::default() })
            .await
            .expect("presigns")
            .into_inner()
            .url;
        let signer = UrlSigner::new(vec![SigningKey {
            id: "shared".into(),
            secret: common::GATEWAY_KEY.as_bytes().to_vec().into(),
        }])
        .unwrap();
        let path = format!("/media/{}", clip.name.trim_start_matches("media/"));
        let expires = chrono::Utc::now().timestamp() + 3600;
        let gateway_url = format!("{}{path}?{}", self.gateway, signer.sign(&path, expires, false));
        let row = compare(
            "playback GET (gateway vs presigned)",
            pids,
            len,
            |_| async { assert_eq!(http_get(&http, &gateway_url).await, len) },
            |_| async { assert_eq!(http_get(&http, &presigned).await, len) },
        )
        .await;
        rows.push(row);
        rows
    }
}

fn best(rates: &[f64]) -> f64 {
    rates.iter().copied().fold(0.0, f64::max)
}

fn median(rates: &[f64]) -> f64 {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn print_rows(rows: &[Row], len: u64) {
    println!(
        "| {:<44} | {:>9} | {:>9} | {:>6} | {:>12} |",
        "MiB/s, best run", "archived", "direct", "ratio", "median ratio"
    );
    println!("| {:-<44} | {:->9} | {:->9} | {:->6} | {:->12} |", "", "", "", "", "");
    for row in rows {
        let (archived, direct) = (best(&row.archived), best(&row.direct));
        let median_ratio = median(&row.archived) / median(&row.direct);
        println!(
            "| {:<44} | {archived:>9.0} | {direct:>9.0} | {:>6.2} | {median_ratio:>12.2} |",
            row.what,
            archived / direct
        );
    }
    println!();
    println!("CPU seconds per GiB moved, client + archived + SeaweedFS:");
    for row in rows {
        let total = rounds() as u64 * len;
        println!("  {:<44}", row.what);
        println!("    archived side {}; direct side {}", row.cpu.0.per_gib(total), row.cpu.1.per_gib(total));
    }
    println!();
}

#[tokio::main]
async fn main() {
    let len = env_u64("ARCHIVE_BENCH_MIB", 1024) * MIB;
    let rss_len = env_u64("ARCHIVE_BENCH_RSS_MIB", 5120) * MIB;
    let dir = tempfile::tempdir().unwrap();
    let mut env = common::production_config(dir.path(), "").await;
    let part = env_u64("ARCHIVE_BENCH_PART_MIB", 16) * MIB;
    let in_flight = env_u64("ARCHIVE_BENCH_PARTS_IN_FLIGHT", 2) as usize;
    env.push(("ARCHIVE__STORAGE__S3__PART_SIZE_BYTES".into(), part.to_string()));
    env.push(("ARCHIVE__STORAGE__S3__PARTS_IN_FLIGHT".into(), in_flight.to_string()));
    env.push(("RUST_LOG".into(), "warn".into()));
    let server = common::spawn_archived(dir.path(), &env);
    let (s3, bucket) = common::s3_client().await;
    let (settings, _) = common::s3_settings();
    let defaults = archive::config::S3Settings::default();
    let reads = archive::config::S3Settings {
        read_range_bytes: defaults.read_range_bytes,
        read_ranges_in_flight: defaults.read_ranges_in_flight,
        read_ahead_bytes: defaults.read_ahead_bytes,
        ..settings
    };
    let store = archive::blob::S3BlobStore::connect(&reads, &bucket).await.expect("s3 store");
    let bench = Bench {
        len,
        part,
        in_flight,
        pool: Bytes::from(common::pseudo_random_bytes(POOL, 2026)),
        media: media_client(server.channel().await),
        s3,
        store,
        bucket,
        gateway: server.gateway.clone(),
        pids: [std::process::id(), server.pid(), weed_pid().expect("the SeaweedFS the test command started")],
    };
    println!(
        "media bench: {} MiB clip, part {} MiB × {in_flight} in flight, reads in {} MiB ranges × {}, chunk {} KiB, \
         SeaweedFS on loopback, best and median of {} alternating rounds",
        len / MIB,
        part / MIB,
        defaults.read_range_bytes as u64 / MIB,
        defaults.read_ranges_in_flight,
        chunk_bytes() / 1024,
        rounds()
    );
    // First, while the store is fresh and fastest: memory is under most
    // pressure when parts land quickly.
    if rss_len > 0 {
        peak_rss_during_upload(dir.path(), &env, &bench.pool.slice(99..), rss_len, false).await;
        peak_rss_during_upload(dir.path(), &env, &bench.pool.slice(98..), rss_len, true).await;
    }
    for (index, layout) in Layout::chosen().into_iter().enumerate() {
        layout.apply(bench.pids);
        println!();
        println!("{layout:?} layout: {}", layout.describe());
        println!();
        // Each layout's rows take distinct bytes (salts up to 5 × rounds).
        let rows = bench.run(index * 6 * rounds()).await;
        print_rows(&rows, len);
    }
    Layout::Shared.apply(bench.pids);
}
