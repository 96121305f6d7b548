//! The tus endpoint driven by clients that are not ours: tus-js-client in
//! Node (what a page uses) and Python's tuspy, each stopping in the middle
//! and resuming at the same URL.

use super::tus::{article, upload_url};
use super::*;

/// A file of `len` bytes to upload, and its bytes.
fn file(len: usize, seed: u64) -> (tempfile::NamedTempFile, Vec<u8>) {
    let data = pseudo_random_bytes(len, seed);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &data).unwrap();
    (file, data)
}

/// The clip `report` names is `data`, attached to `article`.
async fn stored_and_attached(server: &TestServer, report: &serde_json::Value, data: &[u8], article: &str) {
    let media = report["media"].as_str().unwrap_or_else(|| panic!("no clip: {report}"));
    let request = pb::GetMediaRequest { name: media.into() };
    let stored = server.metadata().get_media(request).await.unwrap().into_inner().media.unwrap();
    assert_eq!(stored.sha256, sha256_hex(data));
    assert_eq!(stored.filename, "Phóng sự Thái Bình.bin", "the name as the client sent it");
    assert_eq!(server.read_all(media, 0, 0).await.unwrap(), data, "byte for byte");
    let get = pb::GetArticleRequest { name: article.into(), ..Default::default() };
    let linked = server.articles().get_article(get).await.unwrap().into_inner().article.unwrap();
    assert!(linked.media.iter().any(|link| link.media == media), "attached: {:?}", linked.media);
}

async fn tus_js_client_uploads_and_resumes(stack: Stack) {
    crate::skip_without!(NODE);
    let server = TestServer::start(stack).await;
    let article = article(&server, "tus-js-client").await;
    let (file, data) = file(2 * TEST_PART_SIZE + 777, 41);
    let minted = upload_url(&server, data.len() as i64, &article, &sha256_hex(&data)).await;
    let script = format!("{}/tests/tus/upload.mjs", env!("CARGO_MANIFEST_DIR"));
    let node_path = std::env::var(common::NODE).unwrap();
    let chunk = (3 * 1024 * 1024 + 5).to_string();
    let output = tokio::process::Command::new("node")
        .env("ARCHIVE_TEST_NODE_PATH", &node_path)
        .args([script.as_str(), &minted.upload_url, file.path().to_str().unwrap(), &chunk])
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "node failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"));
    eprintln!("tus-js-client ({stack:?}): {report}");
    assert!(report.get("failure").is_none(), "{report}");
    let resumed_from = report["resumedFrom"].as_u64().unwrap();
    assert!(resumed_from > 0 && resumed_from < data.len() as u64, "resumed in the middle: {report}");
    assert_eq!(report["offset"].as_u64(), Some(data.len() as u64));
    stored_and_attached(&server, &report, &data, &article).await;
}

async fn tuspy_uploads_and_resumes(stack: Stack) {
    crate::skip_without!(PYTHON);
    let server = TestServer::start(stack).await;
    let article = article(&server, "tuspy").await;
    let (file, data) = file(2 * TEST_PART_SIZE + 4321, 43);
    let minted = upload_url(&server, data.len() as i64, &article, "").await;
    let chunk = (1536 * 1024).to_string();
    let output = common::python(&["tests/tus/upload.py", &minted.upload_url, file.path().to_str().unwrap(), &chunk]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "tuspy failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"));
    eprintln!("tuspy ({stack:?}): {report}");
    let half = data.len() as u64 / 2;
    assert_eq!(report["stopped"].as_u64(), Some(half));
    assert_eq!(report["resumed_from"].as_u64(), Some(half), "every byte of the first half was kept");
    assert_eq!(report["offset"].as_u64(), Some(data.len() as u64));
    stored_and_attached(&server, &report, &data, &article).await;
}

on_both_stacks!(tus_js_client_uploads_and_resumes, tuspy_uploads_and_resumes);
