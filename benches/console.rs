//! The web console's first load, from outside: a release `archived` on the
//! embedded defaults holding the seed article and a clip, and Debian's
//! Chromium (benches/console.mjs) loading each page cold (a fresh context)
//! and warm (again in it), with gzip and without. The embeddable player's
//! page is the baseline, in the same run. `scripts/bench.sh` runs it with
//! `ARCHIVE_BENCHES=console`; see BENCHMARKS.md.

#[path = "../tests/it/common/mod.rs"]
mod common;

use archive::proto::v1::{
    self as pb, article_service_client::ArticleServiceClient, media_service_client::MediaServiceClient,
};

const ROUNDS: &str = "10";

/// The median of `rows[which]`'s `field`.
fn median(rows: &serde_json::Value, which: &str, field: &str) -> f64 {
    let mut values: Vec<f64> = rows[which].as_array().unwrap().iter().map(|row| row[field].as_f64().unwrap()).collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::spawn_archived(dir.path(), &[("ARCHIVE__MEDIA__POSTER_AT_UPLOAD", "true")]);
    let channel = server.channel().await;
    let mut articles = ArticleServiceClient::new(channel.clone());
    let mut media = MediaServiceClient::new(channel);
    let import = pb::ImportArticleRequest {
        export_text: common::fixture("article-2019-09-30-giao-ban-truc-tuyen.txt").into(),
        article_id: "seed".into(),
        ..Default::default()
    };
    let seed = articles.import_article(import).await.unwrap().into_inner().article.unwrap();
    let header = pb::UploadHeader { filename: "93019_OHAI1.mp4".into(), ..Default::default() };
    let clip = std::io::Cursor::new(common::fixture("clip-faststart.mp4"));
    let messages = archive::client::upload_messages(header, clip, |_| {});
    let clip = media.upload_media(messages).await.unwrap().into_inner().media.unwrap();
    let attach =
        pb::AttachMediaRequest { article: seed.name, media: clip.name.clone(), reference: "93019_OHAI1.mp4".into() };
    media.attach_media(attach).await.unwrap();
    let playback = pb::GetPlaybackUrlRequest { name: clip.name, ..Default::default() };
    let embed = media.get_playback_url(playback).await.unwrap().into_inner().embed_url;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/console.mjs");
    let output = std::process::Command::new("node").args([script, &server.gateway, &embed, ROUNDS]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(report.get("failure").is_none(), "{report}");

    let rows = [
        ("floor/gzip", "`/healthz` as a page: a tab, a navigation, 3 bytes"),
        ("embed/gzip", "embeddable player, clip ready (baseline)"),
        ("embed/identity", "embeddable player, no gzip"),
        ("signIn/gzip", "console, search form ready"),
        ("signIn/identity", "console, search form ready, no gzip"),
        ("search/gzip", "console, `thai binh` results shown"),
        ("article/gzip", "console, article with its player ready"),
    ];
    let baseline = median(&report["embed/gzip"], "cold", "ms");
    println!(
        "\n| page, Chromium on loopback ({ROUNDS} rounds, medians) | cold KiB | cold ms | vs baseline | warm KiB | warm ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (key, name) in rows {
        let rows = &report[key];
        let cold_ms = median(rows, "cold", "ms");
        println!(
            "| {name} | {:.1} | {cold_ms:.0} | {:.2} | {:.1} | {:.0} |",
            median(rows, "cold", "bytes") / 1024.0,
            cold_ms / baseline,
            median(rows, "warm", "bytes") / 1024.0,
            median(rows, "warm", "ms"),
        );
    }
}
