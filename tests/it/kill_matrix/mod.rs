//! The kill matrix: concurrent uploads across the size classes, one-shot
//! and resumable, some cancelled at a chosen chunk, with article imports
//! and updates beside them, while archived is SIGKILLed and restarted
//! several times, SeaweedFS is killed and restarted once and PostgreSQL
//! restarted once. Clients resume what they can. Then the janitor and the
//! sweep run and the invariants are printed as a table and asserted:
//! nothing partial or open left, bucket and database agree, every
//! acknowledged write is there, SHA-256-equal.
//!
//! `ARCHIVE_KILL_MATRIX=large` runs the larger configuration (200 uploads,
//! 50 cancelled, 20 kills; `scripts/test.sh --kill-matrix=large`);
//! `ARCHIVE_KILL_MATRIX_SEED` replays a run.

mod articles;
mod invariants;
mod server;
mod source;
mod uploads;

use crate::common::{self, services};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use source::Source;
use std::time::{Duration, Instant};
use uploads::{Cancel, Outcome, Planned};

const MIB: u64 = 1024 * 1024;
const PART: u64 = common::TEST_PART_SIZE as u64;
/// `media.upload_session_ttl_seconds`: long enough to outlive an outage,
/// short enough to wait for at the end.
const SESSION_TTL_SECONDS: u64 = 15;

struct Scale {
    name: &'static str,
    uploads: usize,
    cancelled: usize,
    kills: usize,
    upload_workers: usize,
    articles: usize,
    updates: usize,
    article_workers: usize,
}

impl Scale {
    fn from_env() -> Self {
        match std::env::var("ARCHIVE_KILL_MATRIX").as_deref() {
            Ok("large") => Self {
                name: "large",
                uploads: 200,
                cancelled: 50,
                kills: 20,
                upload_workers: 8,
                articles: 60,
                updates: 4,
                article_workers: 3,
            },
            Ok("") | Ok("default") | Err(_) => Self {
                name: "default",
                uploads: 32,
                cancelled: 8,
                kills: 5,
                upload_workers: 6,
                articles: 12,
                updates: 4,
                article_workers: 2,
            },
            Ok(other) => panic!("ARCHIVE_KILL_MATRIX={other}: expected `large` or `default`"),
        }
    }
}

/// The size classes, each once first, then drawn by weight.
const CLASSES: [(&str, u32); 9] = [
    ("empty", 2),
    ("a few bytes", 3),
    ("~1 KiB", 3),
    ("64 KiB..1 MiB", 6),
    ("< part", 4),
    ("= part (5 MiB)", 2),
    ("multipart 5..16 MiB", 4),
    ("65 MiB", 1),
    ("MP4 (faststart rendition)", 2),
];

fn source_of(class: usize, rng: &mut StdRng) -> Source {
    let seed = rng.random();
    let size = match class {
        0 => 0,
        1 => rng.random_range(1..=16),
        2 => rng.random_range(1000..=1100),
        3 => rng.random_range(64 * 1024..=MIB),
        4 => rng.random_range(MIB..PART),
        5 => PART,
        6 => rng.random_range(PART + 1..=16 * MIB),
        7 => 65 * MIB,
        _ => return Source::Fixed(common::fixture("clip-moov-at-end.mp4").into()),
    };
    Source::Generated { seed, size }
}

fn plan(scale: &Scale, rng: &mut StdRng) -> Vec<Planned> {
    let total_weight: u32 = CLASSES.iter().map(|(_, weight)| weight).sum();
    let mut classes: Vec<usize> = (0..CLASSES.len()).collect();
    while classes.len() < scale.uploads {
        let mut pick = rng.random_range(0..total_weight);
        let class = CLASSES
            .iter()
            .position(|(_, weight)| {
                pick < *weight || {
                    pick -= weight;
                    false
                }
            })
            .unwrap();
        classes.push(class);
    }
    // The first of each class always completes; cancels come from the rest.
    let mut cancellable: Vec<usize> = (CLASSES.len().min(scale.uploads)..scale.uploads).collect();
    cancellable.shuffle(rng);
    let cancelled: Vec<usize> = cancellable.into_iter().take(scale.cancelled).collect();
    let mut planned: Vec<Planned> = classes
        .iter()
        .enumerate()
        .map(|(i, &class)| {
            let source = source_of(class, rng);
            let (sha256, crc32c) = source.checksums();
            let chunks = source.size().div_ceil(uploads::CHUNK);
            let cancel = cancelled
                .contains(&i)
                .then(|| Cancel { after_chunks: rng.random_range(0..=chunks), cancel_upload: rng.random_bool(0.5) });
            let extension = if class == 8 { "mp4" } else { "bin" };
            Planned {
                media_id: format!("km-{i:03}"),
                filename: format!("kiem-thu-{i:03}.{extension}"),
                source,
                sha256,
                crc32c,
                resumable: rng.random_bool(0.5),
                cancel,
            }
        })
        .collect();
    planned.shuffle(rng);
    planned
}

#[derive(Debug, Clone, Copy)]
enum Event {
    KillArchived,
    KillSeaweed,
    RestartPostgres,
}

fn chaos_plan(scale: &Scale, rng: &mut StdRng) -> Vec<(Duration, Event)> {
    let mut events = vec![Event::KillArchived; scale.kills];
    events.push(Event::KillSeaweed);
    events.push(Event::RestartPostgres);
    events.shuffle(rng);
    events.into_iter().map(|event| (Duration::from_millis(rng.random_range(1500..4000)), event)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_matrix() {
    crate::skip_without!(OWN_BACKENDS);
    let run_started = Instant::now();
    let scale = Scale::from_env();
    let seed: u64 = match std::env::var("ARCHIVE_KILL_MATRIX_SEED") {
        Ok(seed) => seed.parse().expect("ARCHIVE_KILL_MATRIX_SEED is a number"),
        Err(_) => rand::rng().random(),
    };
    println!("kill matrix: {} configuration, seed {seed} (ARCHIVE_KILL_MATRIX_SEED={seed} replays it)", scale.name);
    let mut rng = StdRng::seed_from_u64(seed);
    let planned = plan(&scale, &mut rng);
    let chaos = chaos_plan(&scale, &mut rng);
    let span: Duration = chaos.iter().map(|(gap, _)| *gap).sum::<Duration>() + Duration::from_secs(3);
    let total_bytes: u64 = planned.iter().map(|p| p.source.size()).sum();

    let mut weed = services::Seaweed::new("kill-matrix").await;
    let postgres = tokio::task::block_in_place(services::Postgres::new);
    let mut archived = server::Server::new(&weed, &postgres.url, SESSION_TTL_SECONDS);
    archived.start().await;
    let url = archived.url();

    // Uploads start spread over the chaos, a few at a time; articles beside them.
    let workers = std::sync::Arc::new(tokio::sync::Semaphore::new(scale.upload_workers));
    let launcher = {
        let (url, planned, workers) = (url.clone(), planned.clone(), workers.clone());
        tokio::spawn(async move {
            let step = span / planned.len() as u32;
            let mut running = Vec::new();
            for planned in planned {
                let permit = workers.clone().acquire_owned().await.unwrap();
                let url = url.clone();
                running.push(tokio::spawn(async move {
                    let report = uploads::run(url, planned).await;
                    drop(permit);
                    report
                }));
                tokio::time::sleep(step).await;
            }
            futures::future::join_all(running).await.into_iter().map(|r| r.expect("upload task")).collect::<Vec<_>>()
        })
    };
    let writers: Vec<_> = (0..scale.article_workers)
        .map(|worker| {
            let ids: Vec<String> =
                (worker..scale.articles).step_by(scale.article_workers).map(|i| format!("bai-{i:03}")).collect();
            let pause = span / (ids.len() * (scale.updates + 1)).max(1) as u32;
            tokio::spawn(articles::run(url.clone(), ids, scale.updates, pause))
        })
        .collect();

    let mut kills = 0;
    let mut mid_multipart = 0;
    let mut mid_one_shot = 0;
    for (gap, event) in &chaos {
        tokio::time::sleep(*gap).await;
        let at = run_started.elapsed().as_secs_f32();
        match event {
            Event::KillArchived => {
                // Mid-multipart when it can be: a stream more than a part in
                // (a one-shot one first: a kill leaves its multipart upload orphaned).
                let deep = |gauge: &std::sync::atomic::AtomicUsize| gauge.load(std::sync::atomic::Ordering::SeqCst) > 0;
                let waiting = Instant::now();
                while !deep(&uploads::ONE_SHOT_PAST_A_PART) && waiting.elapsed() < Duration::from_secs(3)
                    || !deep(&uploads::STREAMS_PAST_A_PART) && waiting.elapsed() < Duration::from_secs(4)
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                mid_multipart += usize::from(deep(&uploads::STREAMS_PAST_A_PART));
                mid_one_shot += usize::from(deep(&uploads::ONE_SHOT_PAST_A_PART));
                archived.kill();
                kills += 1;
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..500))).await;
                archived.start().await;
                println!("{at:7.1}s  archived SIGKILLed and restarted ({kills})");
            }
            Event::KillSeaweed => {
                weed.kill();
                tokio::time::sleep(Duration::from_millis(rng.random_range(1000..3000))).await;
                weed.start().await;
                println!("{at:7.1}s  SeaweedFS SIGKILLed and restarted");
            }
            Event::RestartPostgres => {
                tokio::task::block_in_place(|| postgres.restart());
                println!("{at:7.1}s  PostgreSQL restarted (pg_ctl restart -m fast)");
            }
        }
    }
    let chaos_done = run_started.elapsed();
    let reports = launcher.await.unwrap();
    let mut article_reports = Vec::new();
    for writer in writers {
        article_reports.push(writer.await.unwrap());
    }
    let workload_done = run_started.elapsed();
    archived.kill();

    // The janitor and the sweep, in process on the same settings: once the
    // sessions left behind have expired, and with no grace (nothing writes now).
    let app = archive::app::Application::build(archived.in_process_settings()).await.expect("builds");
    let archive = app.archive();
    let deadline = Instant::now() + Duration::from_secs(SESSION_TTL_SECONDS + 60);
    let mut expired = 0;
    loop {
        expired += archive.expire_uploads().await.expect("janitor runs");
        let open = archive.metadata().statistics().await.expect("statistics").open_uploads;
        if open == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let sweep = archive.sweep_unreferenced(Duration::ZERO).await.expect("sweep runs");
    // And the change feed job's manifest repair, with no lag: manifests a kill left
    // behind their commit are rewritten from the change feed.
    let manifests_repaired = archive.repair_manifests(Duration::ZERO).await.expect("manifest repair runs");

    let stored: Vec<&Planned> = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Acknowledged(_) | Outcome::Confirmed(_)))
        .map(|r| &r.planned)
        .collect();
    let cancelled: Vec<&Planned> =
        reports.iter().filter(|r| matches!(r.outcome, Outcome::Cancelled)).map(|r| &r.planned).collect();
    let revisions: Vec<articles::Revision> = article_reports.iter().flat_map(|r| r.revisions.clone()).collect();
    let expected = invariants::Expected { stored, cancelled, revisions: &revisions };
    let checks = invariants::check(archive, &weed.client().await, &weed.bucket, &expected).await;

    // The table.
    let count = |f: fn(&Outcome) -> bool| reports.iter().filter(|r| f(&r.outcome)).count();
    let failed: Vec<String> = reports
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Failed(why) => Some(format!("media/{}: {why}", r.planned.media_id)),
            _ => None,
        })
        .chain(article_reports.iter().flat_map(|r| r.failures.clone()))
        .collect();
    let retried: usize = reports.iter().map(|r| r.trouble.retried.len()).sum::<usize>()
        + article_reports.iter().map(|r| r.retried).sum::<usize>();
    let hangs: usize =
        reports.iter().map(|r| r.trouble.hangs).sum::<usize>() + article_reports.iter().map(|r| r.hangs).sum::<usize>();
    let restarted: usize = reports.iter().map(|r| r.trouble.restarted_sessions).sum();
    let mut table = String::new();
    use std::fmt::Write;
    let _ = writeln!(table, "\n== kill matrix ({} configuration, seed {seed})", scale.name);
    let figures = [
        ("uploads attempted", reports.len().to_string()),
        (
            "  one-shot / resumable",
            format!(
                "{} / {}",
                reports.iter().filter(|r| !r.planned.resumable).count(),
                reports.iter().filter(|r| r.planned.resumable).count()
            ),
        ),
        ("  bytes planned", format!("{:.1} MiB", total_bytes as f64 / MIB as f64)),
        ("uploads acknowledged (OK)", count(|o| matches!(o, Outcome::Acknowledged(_))).to_string()),
        ("uploads confirmed on retry", count(|o| matches!(o, Outcome::Confirmed(_))).to_string()),
        ("uploads cancelled", count(|o| matches!(o, Outcome::Cancelled)).to_string()),
        ("uploads failed", count(|o| matches!(o, Outcome::Failed(_))).to_string()),
        ("article revisions acknowledged", revisions.iter().filter(|r| r.acknowledged).count().to_string()),
        ("article revisions confirmed on retry", revisions.iter().filter(|r| !r.acknowledged).count().to_string()),
        ("archived SIGKILLs", kills.to_string()),
        ("  with a stream > 1 part in (one-shot)", format!("{mid_multipart} ({mid_one_shot})")),
        ("SeaweedFS kills / PostgreSQL restarts", "1 / 1".into()),
        ("calls retried (broken by the chaos)", retried.to_string()),
        ("resumable sessions started over", restarted.to_string()),
        ("calls over their time limit (hangs)", hangs.to_string()),
        ("janitor: expired sessions discarded", expired.to_string()),
        ("manifests repaired", manifests_repaired.to_string()),
        (
            "sweep: checked / deleted / kept / uploads aborted",
            format!(
                "{} / {} / {} / {}",
                sweep.checked,
                sweep.deleted,
                sweep.named_by_manifest_only + sweep.undecided,
                sweep.aborted_uploads
            ),
        ),
        (
            "wall: chaos / workload / total",
            format!(
                "{:.0} s / {:.0} s / {:.0} s",
                chaos_done.as_secs_f32(),
                workload_done.as_secs_f32(),
                run_started.elapsed().as_secs_f32()
            ),
        ),
    ];
    for (name, value) in figures {
        let _ = writeln!(table, "  {name:<44} {value:>18}");
    }
    let _ = writeln!(table, "  {:<44} {:>8} {:>9}", "invariant", "expected", "found");
    for check in &checks {
        let mark = if check.holds() { "ok" } else { "FAIL" };
        let _ = writeln!(table, "  {:<44} {:>8} {:>9}  {mark}", check.name, check.expected, check.found);
        for example in &check.examples {
            let _ = writeln!(table, "      {example}");
        }
    }
    for failure in failed.iter().take(10) {
        let _ = writeln!(table, "  failed: {failure}");
    }
    println!("{table}");
    if checks.iter().any(|c| !c.holds()) || !failed.is_empty() || hangs > 0 {
        println!("archived's log, last lines (all of it is kept, see below):\n{}", archived.log_tail(30));
    }
    for check in &checks {
        assert!(
            check.holds(),
            "{}: expected {}, found {}: {:?}",
            check.name,
            check.expected,
            check.found,
            check.examples
        );
    }
    assert!(failed.is_empty(), "clients gave up: {failed:?}");
    assert_eq!(hangs, 0, "calls hung");
    assert!(expected.stored.len() >= CLASSES.len().min(scale.uploads), "the first of each class completed");
}
