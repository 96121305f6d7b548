//! gRPC's interop cases (grpc/grpc doc/interop-test-descriptions.md),
//! translated to archived's services: each checks the status the case
//! expects and that nothing is left behind (no clip, no open upload).

use crate::common::{Stack, TestServer, fixture, pseudo_random_bytes, reason, sha256_hex};
use archive::proto::v1::{self as pb, upload_media_request::Kind};
use futures::StreamExt;
use tonic::Code;

/// Clips recorded and uploads open: both 0 after a case that stores nothing.
async fn stored(server: &TestServer) -> (i64, i64) {
    let counts = server.metadata().get_archive_statistics(pb::GetArchiveStatisticsRequest {}).await.unwrap();
    let counts = counts.into_inner();
    (counts.media_count, counts.open_upload_count)
}

/// large_unary: a request and a response of a few hundred KB, byte exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_unary() {
    let server = TestServer::start(Stack::Embedded).await;
    let body = "Đảng bộ tỉnh Thái Bình nâng cao chất lượng sinh hoạt chi bộ. ".repeat(271_828 / 60);
    let article = pb::Article { title: "Lớn".into(), body: body.clone(), ..Default::default() };
    let request =
        pb::CreateArticleRequest { request_id: String::new(), article: Some(article), article_id: "lon".into() };
    server.articles().create_article(request).await.expect("a large request");
    let request =
        pb::GetArticleRequest { name: "articles/lon".into(), view: pb::ArticleView::Full.into(), revision: 0 };
    let read = server.articles().get_article(request).await.expect("a large response").into_inner();
    assert_eq!(read.article.unwrap().body, body);
}

/// client_streaming: chunks of grpc's sizes (27182, 8, 1828, 45904 bytes)
/// make one clip of their sum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_streaming() {
    let server = TestServer::start(Stack::Embedded).await;
    let data = pseudo_random_bytes(27_182 + 8 + 1_828 + 45_904, 3);
    let header = pb::UploadHeader { filename: "luong.bin".into(), ..Default::default() };
    let mut messages = vec![pb::UploadMediaRequest { kind: Some(Kind::Header(header)) }];
    let mut at = 0;
    for size in [27_182, 8, 1_828, 45_904] {
        messages.push(pb::UploadMediaRequest { kind: Some(Kind::Chunk(data[at..at + size].to_vec().into())) });
        at += size;
    }
    let finish = pb::UploadFinish { size_bytes: data.len() as i64, sha256: sha256_hex(&data), crc32c: None };
    messages.push(pb::UploadMediaRequest { kind: Some(Kind::Finish(finish)) });
    let media = server.media().upload_media(futures::stream::iter(messages)).await.unwrap().into_inner();
    assert_eq!(media.media.unwrap().size_bytes, 74_922);
}

/// server_streaming: ranged reads come back as contiguous chunks of the
/// configured size, the last one shorter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_streaming() {
    let server = TestServer::start_with(Stack::Embedded, |settings| settings.media.chunk_size_bytes = 31_415).await;
    let data = pseudo_random_bytes(100_000, 5);
    let media = server.upload("doc.bin", data.clone()).await.unwrap();
    let request = pb::ReadMediaRequest { name: media.name, offset: 9, limit: 90_000 };
    let chunks: Vec<pb::ReadMediaResponse> =
        server.media().read_media(request).await.unwrap().into_inner().map(Result::unwrap).collect().await;
    let sizes: Vec<usize> = chunks.iter().map(|chunk| chunk.data.len()).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 90_000);
    assert!(sizes[..sizes.len() - 1].iter().all(|size| *size == 31_415), "{sizes:?}");
    assert_eq!(chunks.concat_data(), data[9..90_009]);
}

trait ConcatData {
    fn concat_data(&self) -> Vec<u8>;
}

impl ConcatData for Vec<pb::ReadMediaResponse> {
    fn concat_data(&self) -> Vec<u8> {
        self.iter().flat_map(|chunk| chunk.data.iter().copied()).collect()
    }
}

/// empty_stream: an upload stream with no message at all is refused with
/// INVALID_ARGUMENT, and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_stream() {
    let server = TestServer::start(Stack::Embedded).await;
    let empty = futures::stream::iter(Vec::<pb::UploadMediaRequest>::new());
    let refused = server.media().upload_media(empty).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(stored(&server).await, (0, 0));
}

/// cancel_after_begin: a client that opens an upload, sends its header and
/// more than a part, then cancels: the server drops what it had, leaving
/// no record, no open upload, no object and no open multipart upload.
async fn cancel_after_begin(stack: Stack) {
    let server = TestServer::start(stack).await;
    let (messages, receiver) = tokio::sync::mpsc::channel(4);
    let mut media = server.media();
    let call =
        tokio::spawn(async move { media.upload_media(tokio_stream::wrappers::ReceiverStream::new(receiver)).await });
    let media_id = format!("huy-{}", uuid::Uuid::now_v7().simple());
    let header = pb::UploadHeader { filename: "huy.bin".into(), media_id: media_id.clone(), ..Default::default() };
    messages.send(pb::UploadMediaRequest { kind: Some(Kind::Header(header)) }).await.unwrap();
    let data = pseudo_random_bytes(crate::common::TEST_PART_SIZE * 3 / 2, 12);
    for chunk in data.chunks(1 << 20) {
        messages.send(pb::UploadMediaRequest { kind: Some(Kind::Chunk(chunk.to_vec().into())) }).await.unwrap();
    }
    // On S3 a part is stored, in an open multipart upload, before the cancel.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while stack == Stack::Production && crate::common::leftovers_of(&server, &media_id).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no part was ever stored");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    call.abort();
    let _ = call.await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = crate::common::leftovers_of(&server, &media_id).await;
        if left.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "left behind: {left:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(stored(&server).await, (0, 0), "nothing recorded, nothing left open");
}

on_both_stacks!(cancel_after_begin);

/// cancel_after_first_response: a reader that takes one chunk and cancels;
/// the server ends the stream (the next call on the channel is served).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_first_response() {
    let server = TestServer::start(Stack::Embedded).await;
    let media = server.upload("dai.bin", pseudo_random_bytes(8 << 20, 6)).await.unwrap();
    let request = pb::ReadMediaRequest { name: media.name.clone(), offset: 0, limit: 0 };
    let mut stream = server.media().read_media(request).await.unwrap().into_inner();
    assert!(stream.next().await.expect("a first chunk").is_ok());
    drop(stream);
    // The server sees the cancellation and ends its side of the stream.
    let url = format!("http://{}/metrics", server.admin_addr);
    let cancelled = || async {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        text.lines().any(|line| {
            line.starts_with("grpc_server_handled_total{")
                && line.contains("grpc_method=\"ReadMedia\"")
                && line.contains("grpc_code=\"Cancelled\"")
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !cancelled().await {
        assert!(std::time::Instant::now() < deadline, "the server never ended the cancelled stream");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let again = server.read_all(&media.name, 0, 10).await.expect("the channel still serves");
    assert_eq!(again.len(), 10);
}

/// timeout_on_sleeping_server: a ReadMedia stream with a deadline whose
/// reader dawdles past it ends DEADLINE_EXCEEDED, before the clip's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_on_sleeping_server() {
    let server = TestServer::start(Stack::Embedded).await;
    let size = 32 << 20;
    let media = server.upload("cham.bin", pseudo_random_bytes(size, 9)).await.unwrap();
    let mut request = tonic::Request::new(pb::ReadMediaRequest { name: media.name, offset: 0, limit: 0 });
    request.set_timeout(std::time::Duration::from_millis(300));
    let mut stream = server.media().read_media(request).await.expect("the stream starts").into_inner();
    let mut received = stream.next().await.unwrap().unwrap().data.len();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let ended = loop {
        match stream.next().await {
            Some(Ok(chunk)) => received += chunk.data.len(),
            Some(Err(status)) => break status,
            None => panic!("the whole clip came through, past the deadline"),
        }
    };
    assert_eq!(ended.code(), Code::DeadlineExceeded, "{ended:?}");
    assert_eq!(reason(&ended), "CLIENT_DEADLINE");
    assert!(received < size, "ended before the end: {received} of {size} bytes");
}

/// status_code_and_message: a status and its message reach the caller as
/// the server set them, Vietnamese included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_code_and_message() {
    let server = TestServer::start(Stack::Embedded).await;
    let request = pb::ImportArticleRequest {
        export_text: "Tiêu đề\n\nThứ 9, 30.09.2019 | 17:20:59\n".into(),
        ..Default::default()
    };
    let refused = server.articles().import_article(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(refused.message(), "export line 3: `Thứ 9` is not a weekday (Thứ 2 … Thứ 7, Chủ nhật)");
}

/// custom_metadata: the caller's request id comes back in the response
/// metadata, on a unary call and on a stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_metadata() {
    let server = TestServer::start(Stack::Embedded).await;
    let mut unary = tonic::Request::new(pb::GetArchiveStatisticsRequest {});
    unary.metadata_mut().insert("x-request-id", "thu-nghiem-1".parse().unwrap());
    let answered = server.metadata().get_archive_statistics(unary).await.unwrap();
    assert_eq!(answered.metadata().get("x-request-id").unwrap(), "thu-nghiem-1");
    let media = server.upload("clip-faststart.mp4", fixture("clip-faststart.mp4")).await.unwrap();
    let mut streaming = tonic::Request::new(pb::ReadMediaRequest { name: media.name, offset: 0, limit: 10 });
    streaming.metadata_mut().insert("x-request-id", "thu-nghiem-2".parse().unwrap());
    let answered = server.media().read_media(streaming).await.unwrap();
    assert_eq!(answered.metadata().get("x-request-id").unwrap(), "thu-nghiem-2");
}

/// unimplemented_method: a method the service does not have is
/// UNIMPLEMENTED, not a hang or an INTERNAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unimplemented_method() {
    let server = TestServer::start(Stack::Embedded).await;
    let mut client = tonic::client::Grpc::new(server.channel.clone());
    client.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/archive.v1.ArticleService/NoSuchMethod");
    let codec = tonic_prost::ProstCodec::<pb::GetArchiveStatisticsRequest, pb::GetArchiveStatisticsResponse>::default();
    let answer = client.unary(tonic::Request::new(pb::GetArchiveStatisticsRequest {}), path, codec).await;
    assert_eq!(answer.unwrap_err().code(), Code::Unimplemented);
}
