//! One-shot UploadMedia streams: what is refused, and that a refusal leaves nothing.

use super::*;

async fn failed_uploads_leave_nothing(stack: Stack) {
    let server = TestServer::start(stack).await;
    // Big enough to have started a multipart upload on S3 (two parts).
    let data = pseudo_random_bytes(TEST_PART_SIZE * 2 + 123, 7);
    let sha = sha256_hex(&data);

    let with = |id: &str, tail: Vec<pb::UploadMediaRequest>| [vec![header(id)], chunks(&data), tail].concat();
    let size_mismatch =
        upload_raw(&server, with("size-mismatch", vec![finish(data.len() + 1, sha.clone())])).await.unwrap_err();
    assert_eq!(size_mismatch.code(), Code::InvalidArgument);
    assert!(size_mismatch.message().contains("nothing was stored"), "{}", size_mismatch.message());
    assert_nothing_stored(&server, "size-mismatch").await;

    let sha_mismatch =
        upload_raw(&server, with("sha-mismatch", vec![finish(data.len(), sha256_hex(b"other"))])).await.unwrap_err();
    assert_eq!(sha_mismatch.code(), Code::InvalidArgument);
    assert_nothing_stored(&server, "sha-mismatch").await;

    let unfinished = upload_raw(&server, with("unfinished", vec![])).await.unwrap_err();
    assert_eq!(unfinished.code(), Code::InvalidArgument, "{unfinished:?}");
    assert_nothing_stored(&server, "unfinished").await;

    let bad_sha = upload_raw(&server, with("bad-sha", vec![finish(data.len(), "xyz".into())])).await.unwrap_err();
    assert_eq!(bad_sha.code(), Code::InvalidArgument);
    assert_nothing_stored(&server, "bad-sha").await;

    let no_header = upload_raw(&server, chunks(b"abc")).await.unwrap_err();
    assert_eq!(no_header.code(), Code::InvalidArgument);
    let two_headers = upload_raw(&server, vec![header("two-headers"), header("two-headers")]).await.unwrap_err();
    assert_eq!(two_headers.code(), Code::InvalidArgument);
    assert_nothing_stored(&server, "two-headers").await;
    let no_filename = pb::UploadMediaRequest { kind: Some(Kind::Header(pb::UploadHeader::default())) };
    assert_eq!(upload_raw(&server, vec![no_filename]).await.unwrap_err().code(), Code::InvalidArgument);

    // A good upload with a chosen id, then a retry of it: refused, not duplicated.
    let stored = upload_raw(&server, with("chosen-id", vec![finish(data.len(), sha.clone())])).await.expect("stores");
    assert_eq!(stored.name, "media/chosen-id");
    let retry = upload_raw(&server, with("chosen-id", vec![finish(data.len(), sha)])).await.unwrap_err();
    assert_eq!(retry.code(), Code::AlreadyExists);
}

async fn cancelled_upload_is_discarded(stack: Stack) {
    let server = TestServer::start(stack).await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<pb::UploadMediaRequest>(4);
    let mut client = server.media();
    let call =
        tokio::spawn(async move { client.upload_media(tokio_stream::wrappers::ReceiverStream::new(receiver)).await });
    sender.send(header("cancelled")).await.unwrap();
    for chunk in chunks(&pseudo_random_bytes(TEST_PART_SIZE * 2, 3)) {
        sender.send(chunk).await.unwrap();
    }
    // Let the server take in the parts, then the client goes away mid-stream.
    tokio::time::sleep(Duration::from_millis(500)).await;
    call.abort();
    drop(sender);
    let mut left = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = leftovers_of(&server, "cancelled").await;
        if left.is_empty() {
            break;
        }
    }
    assert_eq!(left, Vec::<String>::new(), "a cancelled upload left bytes behind");
    assert_nothing_stored(&server, "cancelled").await;
}

async fn uploads_beyond_the_configured_limit_are_refused(stack: Stack) {
    let server = TestServer::start_with(stack, |s| s.media.max_concurrent_uploads = 1).await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<pb::UploadMediaRequest>(4);
    let mut client = server.media();
    let first =
        tokio::spawn(async move { client.upload_media(tokio_stream::wrappers::ReceiverStream::new(receiver)).await });
    let data = b"first clip".to_vec();
    sender.send(header("first")).await.unwrap();
    sender.send(chunks(&data).remove(0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = upload_raw(&server, vec![header("second"), finish(0, sha256_hex(b""))]).await.unwrap_err();
    assert_eq!(second.code(), Code::ResourceExhausted, "{second:?}");
    sender.send(finish(data.len(), sha256_hex(&data))).await.unwrap();
    drop(sender);
    first.await.unwrap().expect("the first upload completes");
    assert_nothing_stored(&server, "second").await;
    let third = upload_raw(&server, vec![header("third"), finish(0, sha256_hex(b""))]).await;
    assert!(third.is_ok(), "the slot is free again: {third:?}");
}

/// A one-shot stream has a time limit (its object's key dates from its
/// start, and the sweep of unreferenced objects goes by that date).
async fn one_shot_uploads_have_a_time_limit(stack: Stack) {
    let server = TestServer::start_with(stack, |s| s.media.max_one_shot_upload_seconds = 1).await;
    let data = pseudo_random_bytes(TEST_PART_SIZE + 99, 5);
    let (first, rest) = (chunks(&data[..TEST_PART_SIZE]), chunks(&data[TEST_PART_SIZE..]));
    let late = [rest, vec![finish(data.len(), sha256_hex(&data))]].concat();
    let messages = futures::stream::iter([vec![header("slow")], first].concat()).chain(
        futures::stream::once(tokio::time::sleep(Duration::from_millis(1600)))
            .flat_map(move |()| futures::stream::iter(late.clone())),
    );
    let refused = server.media().upload_media(messages).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("StartUpload"), "{refused:?}");
    assert_nothing_stored(&server, "slow").await;
    let quick = upload_raw(
        &server,
        [vec![header("quick")], chunks(&data), vec![finish(data.len(), sha256_hex(&data))]].concat(),
    );
    assert_eq!(quick.await.expect("a quick stream is in time").size_bytes as usize, data.len());
}

async fn upload_of_more_than_three_parts(stack: Stack) {
    let server = TestServer::start(stack).await;
    let data = pseudo_random_bytes(TEST_PART_SIZE * 3 + 777_777, 11);
    let media = server.upload("big.bin", data.clone()).await.expect("uploads");
    assert_eq!(media.sha256, sha256_hex(&data));
    let offset = TEST_PART_SIZE as i64 - 10;
    assert_eq!(
        server.read_all(&media.name, offset, 20).await.unwrap(),
        data[offset as usize..offset as usize + 20],
        "across a part boundary"
    );
    assert_eq!(sha256_hex(&server.read_all(&media.name, 0, 0).await.unwrap()), media.sha256);
    if stack == Stack::Production {
        let (client, bucket) = common::s3_client().await;
        let id = media.name.trim_start_matches("media/");
        let (objects, _) = common::s3_leftovers(&format!("media/{id}/original")).await;
        assert_eq!(objects.len(), 1, "{objects:?}");
        let head = client.head_object().bucket(bucket).key(&objects[0]).part_number(4).send().await.unwrap();
        assert_eq!(head.parts_count(), Some(4), "stored as a 4-part multipart object");
    }
}

async fn uploads_declared_mp4_must_be_mp4(stack: Stack) {
    let server = TestServer::start(stack).await;
    let declared = |media_id: &str| {
        let header = pb::UploadHeader {
            filename: "fake.mp4".into(),
            content_type: "video/mp4".into(),
            media_id: media_id.into(),
            ..Default::default()
        };
        pb::UploadMediaRequest { kind: Some(Kind::Header(header)) }
    };
    let garbage = pseudo_random_bytes(300_000, 9);
    let refused = upload_raw(
        &server,
        [vec![declared("garbage")], chunks(&garbage), vec![finish(garbage.len(), sha256_hex(&garbage))]].concat(),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("nothing was stored"), "{}", refused.message());
    assert_nothing_stored(&server, "garbage").await;

    let truncated = fixture(CLIP)[..400_000].to_vec();
    let refused = upload_raw(
        &server,
        [vec![declared("truncated")], chunks(&truncated), vec![finish(truncated.len(), sha256_hex(&truncated))]]
            .concat(),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_nothing_stored(&server, "truncated").await;
}

on_both_stacks!(
    failed_uploads_leave_nothing,
    cancelled_upload_is_discarded,
    uploads_beyond_the_configured_limit_are_refused,
    one_shot_uploads_have_a_time_limit,
    upload_of_more_than_three_parts,
    uploads_declared_mp4_must_be_mp4,
);
