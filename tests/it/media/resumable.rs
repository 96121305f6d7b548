//! Resumable uploads: a killed client or a restarted archived costs at most
//! the part in flight; a wrong offset, a bad checksum or an expired session
//! gets the right status and leaves nothing behind.

use crate::common;

use archive::{
    client::media_client,
    proto::v1::{self as pb, media_service_client::MediaServiceClient, upload_media_request::Kind},
};
use common::{Stack, TestServer, leftovers_of, pseudo_random_bytes, sha256_hex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, transport::Channel};

const CHUNK: usize = 256 * 1024;

fn chunk_messages(data: &[u8]) -> Vec<pb::UploadMediaRequest> {
    data.chunks(CHUNK).map(|c| pb::UploadMediaRequest { kind: Some(Kind::Chunk(c.to_vec().into())) }).collect()
}

fn resume(upload_id: &str, offset: u64) -> pb::UploadMediaRequest {
    pb::UploadMediaRequest {
        kind: Some(Kind::Resume(pb::UploadResume { upload_id: upload_id.into(), offset: offset as i64 })),
    }
}

fn finish(data: &[u8]) -> pb::UploadMediaRequest {
    pb::UploadMediaRequest {
        kind: Some(Kind::Finish(pb::UploadFinish {
            size_bytes: data.len() as i64,
            sha256: sha256_hex(data),
            crc32c: Some(crc32c::crc32c(data)),
        })),
    }
}

async fn start(client: &mut MediaServiceClient<Channel>, filename: &str) -> pb::StartUploadResponse {
    let header = pb::UploadHeader { filename: filename.into(), ..Default::default() };
    client.start_upload(pb::StartUploadRequest { header: Some(header) }).await.expect("starts").into_inner()
}

async fn query(
    client: &mut MediaServiceClient<Channel>,
    upload_id: &str,
) -> Result<pb::QueryUploadResponse, tonic::Status> {
    Ok(client.query_upload(pb::QueryUploadRequest { upload_id: upload_id.into() }).await?.into_inner())
}

/// One stream of `messages`, to its end.
async fn stream(
    client: &mut MediaServiceClient<Channel>,
    messages: Vec<pb::UploadMediaRequest>,
) -> Result<pb::Media, tonic::Status> {
    Ok(client.upload_media(futures::stream::iter(messages)).await?.into_inner().media.expect("media"))
}

/// Polls QueryUpload until at least `offset` bytes are committed.
async fn wait_for_commit(client: &mut MediaServiceClient<Channel>, upload_id: &str, offset: u64) -> u64 {
    for _ in 0..600 {
        let committed = query(client, upload_id).await.expect("queries").committed_offset as u64;
        if committed >= offset {
            return committed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("upload {upload_id} never committed {offset} bytes");
}

async fn resumes_after_the_client_is_killed(stack: Stack) {
    let server = TestServer::start_isolated(stack, |_| {}).await;
    let mut client = server.media();
    let started = start(&mut client, "phong-su.bin").await;
    let part = started.part_size_bytes as u64;
    assert!(part >= 5 * 1024 * 1024, "parts are at least the S3 minimum ({part})");
    let data = pseudo_random_bytes((part * 7 / 2) as usize, 31);
    let id = started.upload_id.clone();

    // A client sends 2.5 parts on its own connection and is killed while
    // its stream is still open.
    let channel = archive::client::connect(&format!("http://{}", server.grpc_addr)).await.unwrap();
    let (sender, receiver) = mpsc::channel(4);
    let mut doomed = media_client(channel);
    let call = tokio::spawn(async move { doomed.upload_media(ReceiverStream::new(receiver)).await });
    sender.send(resume(&id, 0)).await.unwrap();
    for message in chunk_messages(&data[..(part * 5 / 2) as usize]) {
        sender.send(message).await.unwrap();
    }
    wait_for_commit(&mut client, &id, 2 * part).await;
    call.abort();
    drop(sender);

    // What the server kept is a whole number of parts, and stays.
    let committed = wait_for_commit(&mut client, &id, 2 * part).await;
    assert!(!query(&mut client, &id).await.expect("queries").complete, "a resumable upload is not complete yet");
    assert!(committed.is_multiple_of(part), "committed offset {committed} is on a part boundary");
    assert!(committed <= part * 5 / 2);

    // Resuming anywhere else is refused, naming the committed offset.
    for wrong in [0, committed + 1, committed - 1] {
        let refused = stream(&mut client, vec![resume(&id, wrong)]).await.expect_err("wrong offset refused");
        assert_eq!(refused.code(), Code::FailedPrecondition, "offset {wrong}: {refused:?}");
        assert!(refused.message().contains(&committed.to_string()), "{}", refused.message());
    }

    // The rest, from the committed offset.
    let mut messages = vec![resume(&id, committed)];
    messages.extend(chunk_messages(&data[committed as usize..]));
    messages.push(finish(&data));
    let media = stream(&mut client, messages).await.expect("resumed upload finishes");
    assert_eq!(media.sha256, sha256_hex(&data));
    assert_eq!(media.size_bytes as usize, data.len());
    assert_eq!(server.read_all(&media.name, 0, 0).await.unwrap(), data, "bytes read back equal the source");

    // The upload now answers with its clip and takes no more streams.
    let status = query(&mut client, &id).await.expect("still queryable");
    assert_eq!(status.media.as_ref().map(|m| &m.name), Some(&media.name));
    assert_eq!(status.committed_offset as usize, data.len());
    assert!(status.complete);
    let again = stream(&mut client, vec![resume(&id, data.len() as u64)]).await.expect_err("finished");
    assert_eq!(again.code(), Code::FailedPrecondition);

    let media_id = media.name.trim_start_matches("media/");
    let left = leftovers_of(&server, media_id).await;
    assert!(left.iter().all(|key| key.starts_with(&format!("media/{media_id}/"))), "nothing half-written: {left:?}");

    // Once its clip is deleted, the upload still says it finished, with no clip.
    client.delete_media(pb::DeleteMediaRequest { name: media.name.clone(), force: false }).await.expect("deletes");
    let status = query(&mut client, &id).await.expect("a finished upload stays queryable after its clip is deleted");
    assert!(status.complete && status.media.is_none(), "{status:?}");
    assert_eq!(status.committed_offset as usize, data.len());
}

async fn bad_checksums_and_cancels_leave_nothing(stack: Stack) {
    let server = TestServer::start_isolated(stack, |_| {}).await;
    let mut client = server.media();
    let started = start(&mut client, "sai.bin").await;
    let part = started.part_size_bytes as usize;
    let data = pseudo_random_bytes(part * 3 / 2, 7);
    let mut messages = vec![resume(&started.upload_id, 0)];
    messages.extend(chunk_messages(&data));
    let mut corrupted = data.clone();
    corrupted[10] ^= 1;
    messages.push(finish(&corrupted));
    let refused = stream(&mut client, messages).await.expect_err("checksum mismatch");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    let gone = query(&mut client, &started.upload_id).await.expect_err("a failed upload is gone");
    assert_eq!(gone.code(), Code::NotFound);

    // A truncated stream keeps its whole parts, then a cancel drops them.
    let started = start(&mut client, "huy.bin").await;
    let mut messages = vec![resume(&started.upload_id, 0)];
    messages.extend(chunk_messages(&data));
    let truncated = stream(&mut client, messages).await.expect_err("no finish");
    assert_eq!(truncated.code(), Code::InvalidArgument);
    assert!(truncated.message().contains(&format!("resume at offset {part}")), "{}", truncated.message());
    assert_eq!(query(&mut client, &started.upload_id).await.unwrap().committed_offset as usize, part);
    client.cancel_upload(pb::CancelUploadRequest { upload_id: started.upload_id.clone() }).await.expect("cancels");
    let gone = query(&mut client, &started.upload_id).await.expect_err("a cancelled upload is gone");
    assert_eq!(gone.code(), Code::NotFound);

    assert_no_upload_leftovers(&server).await;
    let unknown = query(&mut client, &uuid::Uuid::now_v7().to_string()).await.expect_err("unknown id");
    assert_eq!(unknown.code(), Code::NotFound);
    let malformed = query(&mut client, "../etc").await.expect_err("malformed id");
    assert_eq!(malformed.code(), Code::InvalidArgument);
}

async fn idle_uploads_expire(stack: Stack) {
    let server = TestServer::start_isolated(stack, |settings| {
        settings.media.upload_session_ttl_seconds = 2;
        settings.media.upload_janitor_interval_seconds = 1;
    })
    .await;
    let mut client = server.media();
    let started = start(&mut client, "bo-quen.bin").await;
    let part = started.part_size_bytes as usize;
    let data = pseudo_random_bytes(part + 1000, 3);
    let mut messages = vec![resume(&started.upload_id, 0)];
    messages.extend(chunk_messages(&data));
    stream(&mut client, messages).await.expect_err("left without a finish");
    assert!(!upload_leftovers(&server).await.is_empty(), "a stored part waits for the next stream");

    // Left idle past its expiry: the janitor discards it.
    let mut left = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = upload_leftovers(&server).await;
        if left.is_empty() {
            break;
        }
    }
    assert!(left.is_empty(), "the janitor aborted the multipart upload: {left:?}");
    let expired = query(&mut client, &started.upload_id).await.expect_err("expired");
    assert_eq!(expired.code(), Code::NotFound, "{expired:?}");
    let resumed = stream(&mut client, vec![resume(&started.upload_id, part as u64)]).await.expect_err("expired");
    assert_eq!(resumed.code(), Code::NotFound, "{resumed:?}");

    // A finished upload expires too (the janitor also aborts its multipart
    // upload, which is then complete: that does nothing), and its clip stays.
    let finished = start(&mut client, "xong.bin").await;
    let mut messages = vec![resume(&finished.upload_id, 0)];
    messages.extend(chunk_messages(&data));
    messages.push(finish(&data));
    let clip = stream(&mut client, messages).await.expect("finishes");
    let mut answer = query(&mut client, &finished.upload_id).await.map(drop);
    for _ in 0..100 {
        if answer.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        answer = query(&mut client, &finished.upload_id).await.map(drop);
    }
    assert_eq!(answer.expect_err("the finished session expired").code(), Code::NotFound);
    assert_eq!(server.read_all(&clip.name, 0, 0).await.unwrap(), data, "the clip outlives its session");
}

/// Open multipart uploads (S3) or partial files (file system).
async fn upload_leftovers(server: &TestServer) -> Vec<String> {
    match server.stack {
        Stack::Embedded => common::files_under(&server.blob_root().join(".uploads")),
        Stack::Production => {
            let (client, _) = common::s3_client().await;
            let bucket = server.settings.storage.url.trim_start_matches("s3://");
            let uploads = client.list_multipart_uploads().bucket(bucket).send().await.expect("lists uploads");
            uploads.uploads().iter().filter_map(|u| u.key().map(str::to_owned)).collect()
        }
    }
}

async fn assert_no_upload_leftovers(server: &TestServer) {
    assert_eq!(upload_leftovers(server).await, Vec::<String>::new());
}

/// A stream resuming an upload that another stream of the same server still
/// writes waits for it to let go, then goes on from what it recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_stream_waits_for_the_first_to_let_go() {
    let server = TestServer::start(Stack::Embedded).await;
    let mut client = server.media();
    let started = start(&mut client, "hai-luong.bin").await;
    let id = started.upload_id.clone();
    let data = pseudo_random_bytes(3 * CHUNK, 47);

    // The first stream holds the upload open with less than a part sent.
    let channel = archive::client::connect(&format!("http://{}", server.grpc_addr)).await.unwrap();
    let (sender, receiver) = mpsc::channel(4);
    let mut first = media_client(channel);
    let call = tokio::spawn(async move { first.upload_media(ReceiverStream::new(receiver)).await });
    sender.send(resume(&id, 0)).await.unwrap();
    sender.send(chunk_messages(&data).remove(0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut messages = vec![resume(&id, 0)];
    messages.extend(chunk_messages(&data));
    messages.push(finish(&data));
    let mut second_client = client.clone();
    let second = tokio::spawn(async move { stream(&mut second_client, messages).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second stream waits while the first is open");

    call.abort();
    drop(sender);
    let media = second.await.unwrap().expect("the second stream takes over and finishes");
    assert_eq!(media.sha256, sha256_hex(&data));
}

/// On SeaweedFS and PostgreSQL: archived is killed mid-upload, a new one
/// takes the upload up at the committed offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_archived_restarts() {
    crate::skip_without!(S3, POSTGRES);
    let dir = tempfile::tempdir().unwrap();
    let env = common::production_config(dir.path(), "").await;
    let first = common::spawn_archived(dir.path(), &env);
    let mut client = media_client(first.channel().await);
    let started = start(&mut client, "truc-tiep.bin").await;
    let part = started.part_size_bytes as u64;
    let data = pseudo_random_bytes((part * 3) as usize + 12_345, 77);
    let id = started.upload_id.clone();

    // Mid-stream, with two parts stored and more on the way, archived dies.
    let (sender, receiver) = mpsc::channel(4);
    let mut streaming = client.clone();
    let call = tokio::spawn(async move { streaming.upload_media(ReceiverStream::new(receiver)).await });
    sender.send(resume(&id, 0)).await.unwrap();
    for message in chunk_messages(&data[..(part * 5 / 2) as usize]) {
        sender.send(message).await.unwrap();
    }
    wait_for_commit(&mut client, &id, 2 * part).await;
    drop(first); // SIGKILL
    let broken = call.await.unwrap().expect_err("the stream broke with the server");
    assert!(matches!(broken.code(), Code::Unavailable | Code::Unknown | Code::Internal), "{broken:?}");

    // A new archived on the same database and bucket.
    let second = common::spawn_archived(dir.path(), &env);
    let mut client = media_client(second.channel().await);
    let committed = query(&mut client, &id).await.expect("the session survived").committed_offset as u64;
    assert!(committed >= 2 * part && committed.is_multiple_of(part), "committed {committed}");
    let mut messages = vec![resume(&id, committed)];
    messages.extend(chunk_messages(&data[committed as usize..]));
    messages.push(finish(&data));
    let media = stream(&mut client, messages).await.expect("finishes on the new server");
    assert_eq!(media.sha256, sha256_hex(&data), "final sha256 equals the source");
    let read = pb::ReadMediaRequest { name: media.name.clone(), offset: 0, limit: 0 };
    let mut chunks = client.read_media(read).await.unwrap().into_inner();
    let mut stored = Vec::with_capacity(data.len());
    while let Some(chunk) = chunks.message().await.unwrap() {
        stored.extend_from_slice(&chunk.data);
    }
    assert!(stored == data, "stored bytes equal the source");
}

on_both_stacks!(resumes_after_the_client_is_killed, bad_checksums_and_cancels_leave_nothing, idle_uploads_expire);

/// Object storage goes away in the middle of a resumable upload: the
/// stream ends UNAVAILABLE (not INTERNAL, not a hang), and once storage is
/// back the upload resumes from its committed offset and completes with
/// the right SHA-256. The outage is a TCP proxy in front of SeaweedFS
/// refusing and dropping every connection, as a stopped server does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_outage_mid_upload_is_unavailable_then_resumable() {
    crate::skip_without!(S3, POSTGRES);
    let (s3, _) = common::s3_settings();
    let proxy = common::Proxy::start(common::host_port(s3.endpoint.as_deref().unwrap())).await;
    let server = TestServer::start_isolated(Stack::Production, |settings| {
        settings.storage.s3.endpoint = Some(format!("http://{}", proxy.addr));
    })
    .await;
    let mut client = server.media();
    let started = start(&mut client, "mat-dien.bin").await;
    let part = started.part_size_bytes as usize;
    let data = pseudo_random_bytes(part * 3 + 1234, 17);
    let id = started.upload_id.clone();

    // The first part and a half go out; storage vanishes under the rest.
    let (messages, receiver) = mpsc::channel(8);
    let mut streaming = client.clone();
    let call = tokio::spawn(async move { streaming.upload_media(ReceiverStream::new(receiver)).await });
    messages.send(resume(&id, 0)).await.unwrap();
    for chunk in chunk_messages(&data[..part * 3 / 2]) {
        messages.send(chunk).await.unwrap();
    }
    wait_for_commit(&mut client, &id, part as u64).await;
    proxy.set_up(false);
    for chunk in chunk_messages(&data[part * 3 / 2..]) {
        if messages.send(chunk).await.is_err() {
            break; // the server has ended the stream already
        }
    }
    let _ = messages.send(finish(&data)).await;
    let broken = tokio::time::timeout(Duration::from_secs(60), call).await.expect("no hang").unwrap().unwrap_err();
    assert_eq!(broken.code(), Code::Unavailable, "{broken:?}");
    assert!(archive::client::is_transient(&broken));

    // Storage returns: resume where the stored bytes end.
    proxy.set_up(true);
    let committed = query(&mut client, &id).await.expect("the session survived").committed_offset as u64;
    assert!(committed >= part as u64 && committed.is_multiple_of(part as u64), "committed {committed}");
    let mut rest = vec![resume(&id, committed)];
    rest.extend(chunk_messages(&data[committed as usize..]));
    rest.push(finish(&data));
    let media = stream(&mut client, rest).await.expect("completes after the outage");
    assert_eq!(media.sha256, sha256_hex(&data));
    assert_eq!(server.read_all(&media.name, 0, 0).await.unwrap(), data);
}
