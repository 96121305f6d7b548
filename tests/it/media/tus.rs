//! Uploads over HTTP with tus 1.0 on one-time upload URLs, spoken by hand
//! (reqwest) so that every header and status the protocol names is checked;
//! tus-js-client and tuspy drive the same endpoint in `tus_clients`.

use super::*;
use crate::common::reason;
use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::{Method, StatusCode, header::HeaderMap};
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

pub async fn upload_url(server: &TestServer, max: i64, article: &str, sha256: &str) -> pb::CreateUploadUrlResponse {
    let request =
        pb::CreateUploadUrlRequest { max_size_bytes: max, ttl: None, article: article.into(), sha256: sha256.into() };
    server.media().create_upload_url(request).await.expect("an upload URL").into_inner()
}

pub async fn article(server: &TestServer, id: &str) -> String {
    let article = pb::Article {
        title: "Tải lên qua trình duyệt".into(),
        body: "Nội dung".into(),
        publish_time: Some(pbjson_types::Timestamp { seconds: 1_570_000_000, nanos: 0 }),
        publish_utc_offset_seconds: 25_200,
        ..Default::default()
    };
    let request = pb::CreateArticleRequest { article: Some(article), article_id: id.into(), request_id: String::new() };
    server.articles().create_article(request).await.unwrap().into_inner().article.unwrap().name
}

struct Tus {
    http: reqwest::Client,
    url: String,
}

impl Tus {
    fn new(url: &str) -> Self {
        Self { http: reqwest::Client::new(), url: url.into() }
    }

    async fn send(&self, method: Method, headers: &[(&str, String)], body: Vec<u8>) -> (StatusCode, HeaderMap, String) {
        let mut request = self.http.request(method, &self.url).header("Tus-Resumable", "1.0.0").body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("the gateway answers");
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.text().await.unwrap())
    }

    async fn create(&self, length: usize, filename: &str, filetype: &str) -> (StatusCode, HeaderMap, String) {
        let metadata = format!("filename {},filetype {}", STANDARD.encode(filename), STANDARD.encode(filetype));
        let headers = [("Upload-Length", length.to_string()), ("Upload-Metadata", metadata)];
        self.send(Method::POST, &headers, Vec::new()).await
    }

    async fn patch(&self, offset: usize, data: &[u8], checksum: Option<String>) -> (StatusCode, HeaderMap, String) {
        let mut headers =
            vec![("Upload-Offset", offset.to_string()), ("Content-Type", "application/offset+octet-stream".into())];
        headers.extend(checksum.map(|checksum| ("Upload-Checksum", checksum)));
        self.send(Method::PATCH, &headers, data.to_vec()).await
    }

    async fn offset(&self) -> Option<usize> {
        let (status, headers, _) = self.send(Method::HEAD, &[], Vec::new()).await;
        match status {
            StatusCode::OK => Some(header(&headers, "upload-offset").parse().unwrap()),
            StatusCode::NOT_FOUND => None,
            other => panic!("HEAD answered {other}"),
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).unwrap_or_else(|| panic!("no {name} in {headers:?}")).to_str().unwrap().to_owned()
}

/// The tail objects left in the bucket for any upload.
async fn tails(server: &TestServer) -> Vec<String> {
    match server.stack {
        Stack::Embedded => common::files_under(&server.blob_root().join("uploads")),
        Stack::Production => common::s3_leftovers("uploads/").await.0,
    }
}

async fn a_tus_upload_resumes_at_any_byte(stack: Stack) {
    let server = TestServer::start(stack).await;
    let article = article(&server, "tai-len-tus").await;
    let minted = upload_url(&server, 20 * MIB as i64, &article, "").await;
    let tus = Tus::new(&minted.upload_url);
    let data = pseudo_random_bytes(2 * TEST_PART_SIZE + 12_345, 31);

    // What the endpoint offers, asked without the protocol header.
    let options = tus.http.request(Method::OPTIONS, &tus.url).send().await.unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(options.headers(), "tus-version"), "1.0.0");
    let extensions = header(options.headers(), "tus-extension");
    for extension in ["creation", "creation-with-upload", "termination", "expiration", "checksum"] {
        assert!(extensions.split(',').any(|e| e == extension), "{extension} in {extensions}");
    }
    assert_eq!(header(options.headers(), "tus-checksum-algorithm"), "sha1,sha256");

    // Refusals before anything is created.
    let bare = tus.http.post(&tus.url).header("Upload-Length", "10").send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::PRECONDITION_FAILED, "no Tus-Resumable");
    assert_eq!(header(bare.headers(), "tus-version"), "1.0.0");
    let (forged_token, _) = minted.upload_url.rsplit_once('.').unwrap();
    let forged = Tus::new(&format!("{forged_token}.AAAA"));
    assert_eq!(forged.create(10, "a.bin", "").await.0, StatusCode::FORBIDDEN);
    assert_eq!(tus.create(21 * MIB, "a.bin", "").await.0, StatusCode::PAYLOAD_TOO_LARGE, "over the URL's maximum");
    let unnamed = tus.send(Method::POST, &[("Upload-Length", "10".into())], Vec::new()).await;
    assert_eq!(unnamed.0, StatusCode::BAD_REQUEST, "{}", unnamed.2);
    assert!(unnamed.2.contains("filename"), "{}", unnamed.2);
    assert_eq!(tus.offset().await, None, "nothing created yet");

    // Created once, at the URL itself.
    let (status, headers, _) = tus.create(data.len(), "Bản tin tối.bin", "application/octet-stream").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(header(&headers, "location"), reqwest::Url::parse(&tus.url).unwrap().path());
    assert!(header(&headers, "upload-expires").ends_with(" GMT"));
    assert_eq!(header(&headers, "tus-resumable"), "1.0.0");
    let (again, _, message) = tus.create(data.len(), "b.bin", "").await;
    assert_eq!(again, StatusCode::CONFLICT, "one upload per URL: {message}");
    let (status, headers, _) = tus.send(Method::HEAD, &[], Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (header(&headers, "upload-offset"), header(&headers, "upload-length")),
        ("0".into(), data.len().to_string())
    );
    assert_eq!(header(&headers, "cache-control"), "no-store");

    // Protocol faults.
    let wrong_type = tus.send(Method::PATCH, &[("Upload-Offset", "0".into())], data[..10].to_vec()).await;
    assert_eq!(wrong_type.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(tus.patch(5, &data[..10], None).await.0, StatusCode::CONFLICT, "not where the upload stands");

    // Requests that end inside a part keep every byte.
    let (status, headers, _) = tus.patch(0, &data[..MIB], None).await;
    assert_eq!((status, header(&headers, "upload-offset")), (StatusCode::NO_CONTENT, MIB.to_string()));
    assert_eq!(tus.offset().await, Some(MIB));

    // A checksum that does not match keeps nothing of its request; one that does keeps it.
    let chunk = &data[MIB..4 * MIB];
    let wrong = format!("sha1 {}", STANDARD.encode(sha1::Sha1::digest(b"something else")));
    let (status, _, message) = tus.patch(MIB, chunk, Some(wrong)).await;
    assert_eq!(status.as_u16(), 460, "{message}");
    assert_eq!(tus.offset().await, Some(MIB));
    // Refused before its body is read: a small one.
    let unknown = tus.patch(MIB, &chunk[..10], Some(format!("md5 {}", STANDARD.encode([0u8; 16])))).await;
    assert_eq!(unknown.0, StatusCode::BAD_REQUEST, "{}", unknown.2);
    let right = format!("sha256 {}", STANDARD.encode(Sha256::digest(chunk)));
    assert_eq!(header(&tus.patch(MIB, chunk, Some(right)).await.1, "upload-offset"), (4 * MIB).to_string());

    // Across a part boundary: the part is stored, the rest (if any: parts
    // are 4 MiB on the file system) kept as the one tail.
    let (_, headers, _) = tus.patch(4 * MIB, &data[4 * MIB..8 * MIB], None).await;
    assert_eq!(header(&headers, "upload-offset"), (8 * MIB).to_string());
    assert!(tails(&server).await.len() <= 1, "one tail at a time: {:?}", tails(&server).await);

    // The connection breaks mid-request: what arrived is kept.
    let sent = data[8 * MIB..].to_vec();
    let broken = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(&sent[..MIB])),
        Err(std::io::Error::other("the lid closed")),
    ]);
    let cut = tus
        .http
        .patch(&tus.url)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", (8 * MIB).to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(broken))
        .send()
        .await;
    assert!(cut.is_err(), "the request broke");
    let mut resumed_at = 0;
    for _ in 0..50 {
        // The server notes the break when it reads it.
        resumed_at = tus.offset().await.unwrap();
        if resumed_at > 8 * MIB {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!((8 * MIB..=9 * MIB).contains(&resumed_at), "resumes at {resumed_at}");

    // The last bytes: the clip is stored, checked and attached.
    let (status, headers, message) = tus.patch(resumed_at, &data[resumed_at..], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{message}");
    assert_eq!(header(&headers, "upload-offset"), data.len().to_string());
    let media = header(&headers, "archive-media");
    let stored = server
        .metadata()
        .get_media(pb::GetMediaRequest { name: media.clone() })
        .await
        .unwrap()
        .into_inner()
        .media
        .unwrap();
    assert_eq!((stored.sha256.as_str(), stored.filename.as_str()), (sha256_hex(&data).as_str(), "Bản tin tối.bin"));
    assert_eq!(server.read_all(&media, 0, 0).await.unwrap(), data, "byte for byte");
    let get = pb::GetArticleRequest { name: article.clone(), ..Default::default() };
    let linked = server.articles().get_article(get).await.unwrap().into_inner().article.unwrap();
    assert!(linked.media.iter().any(|link| link.media == media), "attached: {:?}", linked.media);
    let (_, headers, _) = tus.send(Method::HEAD, &[], Vec::new()).await;
    assert_eq!((header(&headers, "upload-offset"), header(&headers, "archive-media")), (data.len().to_string(), media));
    assert_eq!(tails(&server).await, Vec::<String>::new(), "the parts took the tail in");

    // Counted: every byte that arrived (the refused checksum request's too), each answer by method and status.
    let metrics = reqwest::get(format!("http://{}/metrics", server.admin_addr)).await.unwrap().text().await.unwrap();
    let value = |name: &str| metrics.lines().find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok());
    let received = value("archive_tus_received_bytes_total ").unwrap_or_default();
    assert!(received >= data.len() as f64, "{received} bytes counted:\n{metrics}");
    for series in
        [r#"method="PATCH",status="460""#, r#"method="POST",status="201""#, r#"method="OPTIONS",status="204""#]
    {
        let line = format!("archive_tus_requests_total{{{series}}} ");
        assert!(value(&line).is_some_and(|count| count >= 1.0), "{line}in\n{metrics}");
    }

    // Underneath, a resumable upload of the minter's.
    let query = pb::QueryUploadRequest { upload_id: minted.upload_id.clone() };
    assert!(server.media().query_upload(query).await.unwrap().into_inner().complete);
}

async fn tus_refusals_leave_nothing(stack: Stack) {
    let server = TestServer::start(stack).await;
    let data = pseudo_random_bytes(TEST_PART_SIZE + 1000, 7);

    // What an upload URL may not be.
    let refusals = [
        (pb::CreateUploadUrlRequest { max_size_bytes: 0, ..Default::default() }, "INVALID_UPLOAD_SIZE"),
        (
            pb::CreateUploadUrlRequest { max_size_bytes: 10, sha256: "abc".into(), ..Default::default() },
            "INVALID_SHA256",
        ),
        (
            pb::CreateUploadUrlRequest {
                max_size_bytes: 10,
                article: "articles/khong-co".into(),
                ..Default::default()
            },
            "ARTICLE_NOT_FOUND",
        ),
        (
            pb::CreateUploadUrlRequest {
                max_size_bytes: 10,
                ttl: Some(pbjson_types::Duration { seconds: 400 * 24 * 3600, nanos: 0 }),
                ..Default::default()
            },
            "INVALID_TTL",
        ),
    ];
    for (request, expected) in refusals {
        let status = server.media().create_upload_url(request).await.unwrap_err();
        assert_eq!(reason(&status), expected, "{status:?}");
    }

    // An expired URL starts nothing.
    let request = pb::CreateUploadUrlRequest {
        max_size_bytes: 100,
        ttl: Some(pbjson_types::Duration { seconds: 1, nanos: 0 }),
        ..Default::default()
    };
    let expired = server.media().create_upload_url(request).await.unwrap().into_inner();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, message) = Tus::new(&expired.upload_url).create(10, "a.bin", "").await;
    assert_eq!(status, StatusCode::GONE, "{message}");

    // A declared SHA-256 the bytes do not have: the last request is refused, nothing stored.
    let minted = upload_url(&server, data.len() as i64, "", &sha256_hex(b"other bytes")).await;
    let tus = Tus::new(&minted.upload_url);
    assert_eq!(tus.create(data.len(), "a.bin", "").await.0, StatusCode::CREATED);
    let (status, _, message) = tus.patch(0, &data, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
    assert!(message.contains("sha256"), "{message}");
    assert_eq!(tus.offset().await, None, "the upload is gone");

    // Termination, asked with a method override (a proxy that passes POST only).
    let minted = upload_url(&server, data.len() as i64, "", "").await;
    let tus = Tus::new(&minted.upload_url);
    assert_eq!(tus.create(data.len(), "b.bin", "").await.0, StatusCode::CREATED);
    assert_eq!(tus.patch(0, &data[..TEST_PART_SIZE + 10], None).await.0, StatusCode::NO_CONTENT);
    let overridden = tus.send(Method::POST, &[("X-HTTP-Method-Override", "HEAD".into())], Vec::new()).await;
    assert_eq!(header(&overridden.1, "upload-offset"), (TEST_PART_SIZE + 10).to_string());
    let deleted = tus.send(Method::POST, &[("X-HTTP-Method-Override", "DELETE".into())], Vec::new()).await;
    assert_eq!(deleted.0, StatusCode::NO_CONTENT, "{}", deleted.2);
    assert_eq!(tus.offset().await, None);
    assert_eq!(tails(&server).await, Vec::<String>::new());
    let query = pb::QueryUploadRequest { upload_id: minted.upload_id };
    assert_eq!(server.media().query_upload(query).await.unwrap_err().code(), Code::NotFound);
    let listed = server.metadata().list_media(pb::ListMediaRequest::default()).await.unwrap().into_inner();
    assert!(listed.media.is_empty(), "no clip: {:?}", listed.media);
}

/// One long request across many parts: each part's record runs to its end
/// even when the next chunk is already waiting (a record cut off inside the
/// stream's `select!` reached the database unseen, and the next one failed
/// with UPLOAD_MOVED_ON; the media bench found it).
async fn a_long_request_records_every_part(stack: Stack) {
    let server = TestServer::start(stack).await;
    let data = pseudo_random_bytes(12 * TEST_PART_SIZE + 99, 53);
    let minted = upload_url(&server, data.len() as i64, "", &sha256_hex(&data)).await;
    let tus = Tus::new(&minted.upload_url);
    assert_eq!(tus.create(data.len(), "dai.bin", "").await.0, StatusCode::CREATED);
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        data.chunks(64 * 1024).map(|chunk| Ok(bytes::Bytes::copy_from_slice(chunk))).collect();
    let response = tus
        .http
        .patch(&tus.url)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(status, StatusCode::NO_CONTENT, "{}", response.text().await.unwrap());
    assert_eq!(header(response.headers(), "upload-offset"), data.len().to_string());
}

/// A client whose last PATCH failed to attach (the article was gone then)
/// retries with HEAD, which reports the upload complete: by then the clip
/// must be attached, or that HEAD fails too.
async fn complete_means_attached(stack: Stack) {
    let server = TestServer::start(stack).await;
    let name = article(&server, "tus-attach").await;
    let data = pseudo_random_bytes(TEST_PART_SIZE + 7, 61);
    let minted = upload_url(&server, data.len() as i64, &name, "").await;
    let tus = Tus::new(&minted.upload_url);
    assert_eq!(tus.create(data.len(), "gan.bin", "").await.0, StatusCode::CREATED);
    server
        .articles()
        .delete_article(pb::DeleteArticleRequest { name: name.clone(), etag: String::new() })
        .await
        .unwrap();

    let (status, _, message) = tus.patch(0, &data, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{message}");
    assert!(message.contains("stored, but not attached"), "{message}");
    let (status, _, _) = tus.send(Method::HEAD, &[], Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not complete while it cannot be attached");

    server.articles().undelete_article(pb::UndeleteArticleRequest { name: name.clone() }).await.unwrap();
    let get = || async {
        let request = pb::GetArticleRequest { name: name.clone(), view: pb::ArticleView::Basic.into(), revision: 0 };
        server.articles().get_article(request).await.unwrap().into_inner().article.unwrap()
    };
    for _ in 0..2 {
        let (status, headers, _) = tus.send(Method::HEAD, &[], Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&headers, "upload-offset"), data.len().to_string());
        let media = header(&headers, "archive-media");
        let linked = get().await.media;
        assert_eq!(linked.iter().map(|link| link.media.as_str()).collect::<Vec<_>>(), [media.as_str()]);
    }
    let revision = get().await.revision;
    tus.send(Method::HEAD, &[], Vec::new()).await;
    assert_eq!(get().await.revision, revision, "attached once, not again on every HEAD");
}

on_both_stacks!(
    a_tus_upload_resumes_at_any_byte,
    tus_refusals_leave_nothing,
    a_long_request_records_every_part,
    complete_means_attached
);
