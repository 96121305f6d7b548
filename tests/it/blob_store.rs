//! The BlobStore contract, run on the file system and on SeaweedFS.

use crate::common;

use archive::{
    blob::{self, BlobKey, BlobStore},
    config::StorageSettings,
    ids::MediaId,
};
use bytes::Bytes;
use common::{Stack, TEST_PART_SIZE, pseudo_random_bytes};
use futures::TryStreamExt;
use std::sync::Arc;

async fn open_store(stack: Stack, dir: &std::path::Path) -> Arc<dyn BlobStore> {
    let mut settings = StorageSettings::default();
    match stack {
        Stack::Embedded => settings.url = format!("file://{}", dir.display()),
        Stack::Production => {
            let (s3, bucket) = common::s3_settings();
            settings.s3 = s3;
            settings.url = format!("s3://{bucket}");
        }
    }
    blob::open(&settings, 64 * 1024).await.expect("store opens").store
}

async fn read(store: &dyn BlobStore, key: &BlobKey, range: std::ops::Range<u64>) -> Vec<u8> {
    let stream = store.get(key, range).await.expect("get");
    let chunks: Vec<Bytes> = stream.try_collect().await.expect("read");
    chunks.concat()
}

fn fresh_key() -> BlobKey {
    BlobKey::new_media_original(&MediaId::generate())
}

async fn put_get_range_size_delete(stack: Stack) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(stack, dir.path()).await;
    let key = fresh_key();
    let text = "Giao ban trực tuyến Toàn quốc — Đảng 9 tháng 2019\u{a0}".as_bytes().to_vec();
    assert_eq!(store.head(&key).await.unwrap(), None);
    store.put(&key, Bytes::from(text.clone()), "text/plain; charset=utf-8").await.unwrap();
    assert_eq!(store.head(&key).await.unwrap(), Some(text.len() as u64));
    assert_eq!(read(store.as_ref(), &key, 0..text.len() as u64).await, text);
    assert_eq!(read(store.as_ref(), &key, 5..9).await, text[5..9]);
    assert_eq!(read(store.as_ref(), &key, 3..3).await, b"");
    assert_eq!(store.get_bytes(&key, text.len() as u64).await.unwrap().as_ref(), text.as_slice());
    store.delete(&key).await.unwrap();
    assert_eq!(store.head(&key).await.unwrap(), None);
    store.delete(&key).await.expect("deleting a missing object succeeds");
    let missing = store.get(&key, 0..1).await.err().expect("missing object");
    assert!(matches!(missing, blob::BlobError::NotFound { .. }), "{missing:?}");
}

async fn uploads_become_visible_only_on_commit(stack: Stack) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(stack, dir.path()).await;
    let data = pseudo_random_bytes(TEST_PART_SIZE * 3 + 4321, 5);

    let key = fresh_key();
    let mut upload = store.start_upload(&key, "video/mp4").await.unwrap();
    for chunk in data.chunks(300_000) {
        upload.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert_eq!(store.head(&key).await.unwrap(), None, "invisible before commit");
    upload.commit().await.unwrap();
    assert_eq!(store.head(&key).await.unwrap(), Some(data.len() as u64));
    let boundary = TEST_PART_SIZE as u64;
    assert_eq!(
        read(store.as_ref(), &key, boundary - 3..boundary + 3).await,
        data[boundary as usize - 3..boundary as usize + 3]
    );
    assert_eq!(read(store.as_ref(), &key, 0..data.len() as u64).await, data);

    let aborted = fresh_key();
    let mut upload = store.start_upload(&aborted, "video/mp4").await.unwrap();
    upload.write(Bytes::from(data.clone())).await.unwrap();
    upload.abort().await.unwrap();
    assert_eq!(store.head(&aborted).await.unwrap(), None);

    let dropped = fresh_key();
    let mut upload = store.start_upload(&dropped, "video/mp4").await.unwrap();
    upload.write(Bytes::from(data.clone())).await.unwrap();
    drop(upload);
    assert_eq!(store.head(&dropped).await.unwrap(), None);

    match stack {
        Stack::Embedded => assert_eq!(common::files_under(&dir.path().join(".uploads")), Vec::<String>::new()),
        Stack::Production => {
            let mut open = Vec::new();
            for _ in 0..50 {
                let (_, a) = common::s3_leftovers(aborted.as_str()).await;
                let (_, d) = common::s3_leftovers(dropped.as_str()).await;
                open = [a, d].concat();
                if open.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert_eq!(open, Vec::<String>::new(), "multipart uploads left open");
        }
    }
}

async fn small_and_empty_uploads(stack: Stack) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(stack, dir.path()).await;
    for size in [0usize, 1, TEST_PART_SIZE - 1, TEST_PART_SIZE, TEST_PART_SIZE + 1] {
        let data = pseudo_random_bytes(size, size as u64 + 1);
        let key = fresh_key();
        let mut upload = store.start_upload(&key, "video/mp4").await.unwrap();
        if !data.is_empty() {
            upload.write(Bytes::from(data.clone())).await.unwrap();
        }
        upload.commit().await.unwrap();
        assert_eq!(store.head(&key).await.unwrap(), Some(size as u64), "size {size}");
        assert_eq!(read(store.as_ref(), &key, 0..size as u64).await, data, "size {size}");
    }
}

async fn listing_streams_the_keys_under_a_prefix(stack: Stack) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(stack, dir.path()).await;
    let (media, other) = (MediaId::generate(), MediaId::generate());
    let mut expected = Vec::new();
    for key in
        [BlobKey::new_media_original(&media), BlobKey::new_media_rendition(&media), BlobKey::media_manifest(&media)]
    {
        store.put(&key, Bytes::from_static(b"x"), "application/octet-stream").await.unwrap();
        expected.push(key.as_str().to_owned());
    }
    store.put(&BlobKey::media_manifest(&other), Bytes::from_static(b"y"), "application/json").await.unwrap();
    // Neither an upload in progress nor another prefix shows.
    let mut open = store.start_upload(&BlobKey::new_media_original(&media), "video/mp4").await.unwrap();
    open.write(Bytes::from_static(b"partial")).await.unwrap();

    let prefix = format!("media/{}/", media.as_str());
    let listed: Vec<BlobKey> = store.list(&prefix).try_collect().await.unwrap();
    let mut listed: Vec<String> = listed.iter().map(|key| key.as_str().to_owned()).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    let nothing: Vec<BlobKey> = store.list("media/no-such-clip/").try_collect().await.unwrap();
    assert!(nothing.is_empty());
    open.abort().await.unwrap();
}

/// The S3 store reads in ranges of 1 MiB here (see `common::s3_settings`):
/// every byte must come back in order across their boundaries.
async fn long_reads_cross_range_boundaries(stack: Stack) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(stack, dir.path()).await;
    let key = fresh_key();
    const MIB: u64 = 1024 * 1024;
    let data = pseudo_random_bytes((3 * MIB + MIB / 2) as usize, 11);
    store.put(&key, Bytes::from(data.clone()), "video/mp4").await.unwrap();
    let len = data.len() as u64;
    for range in [0..len, 1..len - 1, MIB - 1..2 * MIB + 1, MIB..3 * MIB, 3 * MIB - 7..len, 2 * MIB - 1..2 * MIB] {
        let got = read(store.as_ref(), &key, range.clone()).await;
        assert!(got == data[range.start as usize..range.end as usize], "bytes differ in {range:?}");
    }
    store.delete(&key).await.unwrap();
}

on_both_stacks!(
    put_get_range_size_delete,
    long_reads_cross_range_boundaries,
    uploads_become_visible_only_on_commit,
    small_and_empty_uploads,
    listing_streams_the_keys_under_a_prefix
);

/// The S3 backend sends parts with UNSIGNED-PAYLOAD and a CRC32C header:
/// the store must refuse a part whose bytes do not match it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_refuses_a_part_that_does_not_match_its_crc32c() {
    crate::skip_without!(S3);
    use base64::Engine;
    let (client, bucket) = common::s3_client().await;
    let key = format!("checks/{}", uuid::Uuid::now_v7());
    let created = client.create_multipart_upload().bucket(&bucket).key(&key).send().await.unwrap();
    let upload_id = created.upload_id().unwrap();
    let data = bytes::Bytes::from_static(b"du lieu luu tru");
    let wrong = base64::engine::general_purpose::STANDARD.encode((crc32c::crc32c(&data) ^ 1).to_be_bytes());
    let sent = client
        .upload_part()
        .bucket(&bucket)
        .key(&key)
        .upload_id(upload_id)
        .part_number(1)
        .checksum_crc32_c(wrong)
        .body(data.into())
        .customize()
        .disable_payload_signing()
        .send()
        .await;
    client.abort_multipart_upload().bucket(&bucket).key(&key).upload_id(upload_id).send().await.unwrap();
    assert!(sent.is_err(), "a corrupted part was accepted");
}

/// A read in ranges checks that each range comes from the object the first
/// one did: an object replaced between two GETs ends the read with an error
/// instead of splicing two objects together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ranged_read_fails_when_the_object_is_replaced_under_it() {
    crate::skip_without!(S3);
    let (mut settings, bucket) = common::s3_settings();
    settings.read_range_bytes = 1024 * 1024;
    settings.read_ranges_in_flight = 2;
    // No read-ahead: the second range is asked for only once the first is read.
    settings.read_ahead_bytes = 0;
    let store = blob::S3BlobStore::connect(&settings, &bucket).await.expect("s3 store");
    let key = fresh_key();
    let before = pseudo_random_bytes(3 * 1024 * 1024, 1);
    store.put(&key, Bytes::from(before.clone()), "video/mp4").await.unwrap();
    let mut stream = store.get(&key, 0..before.len() as u64).await.expect("get");
    let mut got = Vec::new();
    while got.len() < 1024 * 1024 {
        got.extend_from_slice(&stream.try_next().await.expect("the first range reads").expect("a chunk"));
    }
    assert_eq!(got, before[..got.len()], "the first range is the object's");

    let after = pseudo_random_bytes(before.len(), 2);
    store.client().put_object().bucket(&bucket).key(key.as_str()).body(after.into()).send().await.unwrap();
    let error = stream.try_collect::<Vec<Bytes>>().await.expect_err("the read notices the new object");
    assert!(error.to_string().contains("changed while it was read"), "{error}");
    store.delete(&key).await.unwrap();
}
