//! Signed playback URLs: expiry, tampering, CORS and conditional requests.

use super::*;

/// When a URL stops working, read off the URL itself: the gateway's `exp`,
/// or SigV4's `X-Amz-Date` plus `X-Amz-Expires`.
fn url_expiry(url: &str) -> i64 {
    let query: std::collections::HashMap<String, String> =
        reqwest::Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if let Some(exp) = query.get("exp") {
        return exp.parse().unwrap();
    }
    let signed = chrono::NaiveDateTime::parse_from_str(&query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").unwrap();
    signed.and_utc().timestamp() + query["X-Amz-Expires"].parse::<i64>().unwrap()
}

async fn playback_urls_expire_and_resist_tampering(stack: Stack) {
    let server = TestServer::start(stack).await;
    let media = server.upload(CLIP, fixture(CLIP)).await.unwrap();
    // Long enough to stay valid across a second boundary on a loaded machine.
    let short = playback_url(&server, &media.name, Some(3)).await;
    let expire = short.expire_time.unwrap();
    assert!(expire.seconds > chrono::Utc::now().timestamp() - 2);
    assert_eq!((url_expiry(&short.url), expire.nanos), (expire.seconds, 0), "the expiry the URL carries");
    let (status, _, _) = http_get(&short.url, Some("bytes=0-9")).await;
    assert_eq!(status, 206, "valid before expiry");
    tokio::time::sleep(Duration::from_millis(4100)).await;
    let (status, _, _) = http_get(&short.url, Some("bytes=0-9")).await;
    assert_eq!(status, 403, "expired URL refused");

    let url = playback_url(&server, &media.name, None).await.url;
    let tampered = if stack == Stack::Embedded {
        // Flip the last character of the signature.
        let last = url.chars().last().unwrap();
        format!("{}{}", &url[..url.len() - 1], if last == 'A' { 'B' } else { 'A' })
    } else {
        url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    };
    assert_eq!(http_get(&tampered, None).await.0, 403, "tampered signature refused");
    if stack == Stack::Embedded {
        let other_media = url.replace(&media.name.replace("media/", ""), "someone-else");
        assert_eq!(http_get(&other_media, None).await.0, 403, "signature bound to the path");
        let unsigned = url.split('?').next().unwrap().to_owned();
        assert_eq!(http_get(&unsigned, None).await.0, 403);
    }

    let unknown = server
        .media()
        .get_playback_url(pb::GetPlaybackUrlRequest { name: "media/nope".into(), ..Default::default() })
        .await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
    let too_long = pb::GetPlaybackUrlRequest {
        disposition: pb::Disposition::Unspecified.into(),
        name: media.name.clone(),
        ttl: Some(pbjson_types::Duration { seconds: 8 * 24 * 3600, nanos: 0 }),
        start: None,
    };
    assert_eq!(server.media().get_playback_url(too_long).await.unwrap_err().code(), Code::InvalidArgument);
}

async fn playback_urls_can_download_and_share_cross_origin(stack: Stack) {
    let server = TestServer::start(stack).await;
    let media = server.upload("Thái Bình.mp4", fixture(CLIP)).await.unwrap();
    let request = pb::GetPlaybackUrlRequest {
        name: media.name.clone(),
        ttl: None,
        disposition: pb::Disposition::Attachment.into(),
        start: None,
    };
    let url = server.media().get_playback_url(request).await.unwrap().into_inner().url;
    let (status, headers, _) = http_get(&url, Some("bytes=0-9")).await;
    assert_eq!(status, 206);
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''Th%C3%A1i%20B%C3%ACnh%2Emp4"), "{disposition}");
    if stack == Stack::Embedded {
        let client = reqwest::Client::new();
        let answer = client
            .get(&url)
            .header("Origin", "https://news.example")
            .header("Range", "bytes=0-0")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.headers()["access-control-allow-origin"], "*");
        // Header names are case-insensitive; tower-http writes them lower case.
        let exposed = answer.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
        assert!(exposed.split(',').any(|h| h.trim() == "content-range"), "{exposed}");
        let preflight = client
            .request(reqwest::Method::OPTIONS, &url)
            .header("Origin", "https://news.example")
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "range")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status().as_u16(), 200);
        let allowed = preflight.headers()["access-control-allow-headers"].to_str().unwrap();
        for needed in ["Range", "If-Range", "If-None-Match"] {
            assert!(allowed.split(',').any(|h| h.trim().eq_ignore_ascii_case(needed)), "{needed} not in {allowed}");
        }
        let inline = url.replace("&disposition=attachment", "");
        assert_eq!(http_get(&inline, None).await.0, 403, "the disposition is part of the signature");
    }
}

/// Browsers and caches revalidate what they hold with the validators the URL
/// served (RFC 9110 §13): If-None-Match and If-Modified-Since answer 304
/// without a body, If-Range sends the range only while the ETag still
/// matches, a failed If-Match is 412. On S3 the store answers them itself.
async fn playback_urls_answer_conditional_requests(stack: Stack) {
    let server = TestServer::start(stack).await;
    let clip = fixture(CLIP);
    let media = server.upload(CLIP, clip.clone()).await.unwrap();
    let url = playback_url(&server, &media.name, None).await.url;
    let (status, headers, body) = http_get(&url, None).await;
    assert_eq!((status, body.len()), (200, clip.len()));
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let last_modified = headers["last-modified"].to_str().unwrap().to_owned();
    let other = "\"0123456789abcdef\"";
    let long_ago = "Mon, 01 Jan 2001 00:00:00 GMT";

    let (status, headers, body) = http_get_with(&url, &[("If-None-Match", &etag)]).await;
    assert_eq!((status, body.len()), (304, 0), "If-None-Match with the current ETag");
    assert_eq!(headers["etag"].to_str().unwrap(), etag, "a 304 repeats the validators");
    if stack == Stack::Embedded {
        // The gateway repeats both validators; SeaweedFS only the ETag (as
        // RFC 9110 requires); a presigned URL is signed for GET alone.
        assert_eq!(headers["last-modified"].to_str().unwrap(), last_modified);
        let head = reqwest::Client::new().head(&url).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(head.status().as_u16(), 304, "HEAD is conditional too");
    }
    assert_eq!(http_get_with(&url, &[("If-None-Match", "*")]).await.0, 304);
    let (status, _, body) = http_get_with(&url, &[("If-None-Match", other)]).await;
    assert_eq!((status, body.as_slice()), (200, clip.as_slice()), "another ETag gets the clip");

    assert_eq!(http_get_with(&url, &[("If-Modified-Since", &last_modified)]).await.0, 304);
    assert_eq!(http_get_with(&url, &[("If-Modified-Since", long_ago)]).await.0, 200);
    let both = [("If-None-Match", other), ("If-Modified-Since", last_modified.as_str())];
    assert_eq!(http_get_with(&url, &both).await.0, 200, "If-None-Match takes precedence over If-Modified-Since");

    let (status, _, body) = http_get_with(&url, &[("Range", "bytes=10-19"), ("If-Range", &etag)]).await;
    assert_eq!((status, body.as_slice()), (206, &clip[10..20]), "If-Range with the current ETag");
    if stack == Stack::Embedded {
        // S3 stores (SeaweedFS, as AWS) ignore If-Range and send the range.
        let (status, _, body) = http_get_with(&url, &[("Range", "bytes=10-19"), ("If-Range", other)]).await;
        assert_eq!((status, body.len()), (200, clip.len()), "If-Range with another ETag gets the whole clip");
    }

    let (status, _, body) = http_get_with(&url, &[("If-Match", &etag)]).await;
    assert_eq!((status, body.len()), (200, clip.len()));
    assert_eq!(http_get_with(&url, &[("If-Match", other)]).await.0, 412);
    if stack == Stack::Embedded {
        // RFC 9110 §13.2.1 (SeaweedFS answers 304 here).
        let unsatisfiable = format!("bytes={}-", clip.len() + 10);
        let status = http_get_with(&url, &[("Range", &unsatisfiable), ("If-None-Match", &etag)]).await.0;
        assert_eq!(status, 416, "a request that would be 416 ignores its preconditions");
        let (status, _, body) = http_get_with(&url, &[("Range", &unsatisfiable), ("If-Range", other)]).await;
        assert_eq!((status, body.len()), (200, clip.len()), "a stale If-Range drops even an unsatisfiable range");
    }
    assert_eq!(http_get_with(&url, &[("If-Unmodified-Since", long_ago)]).await.0, 412);
}

/// Every URL that differs from a signed one by one bit in its path, expiry,
/// key id or signature is refused with 403. Gateway URLs are what the file
/// system backend hands out (S3 signs its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_one_bit_change_of_a_gateway_url_is_refused() {
    let server = TestServer::start(Stack::Embedded).await;
    let media = server.upload(CLIP, fixture(CLIP)).await.unwrap();
    let url = playback_url(&server, &media.name, Some(600)).await.url;
    let (base, query) = url.split_once('?').unwrap();
    let (origin, path) = base.split_at(base.find("/media/").unwrap());
    let params: Vec<(String, String)> =
        query.split('&').map(|p| p.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap()).collect();
    let encode = |bytes: &[u8]| percent_encoding::percent_encode(bytes, percent_encoding::NON_ALPHANUMERIC).to_string();
    let client = reqwest::Client::new();
    let mut checked = 0;
    let mut parts: Vec<(usize, Vec<u8>)> = vec![(usize::MAX, path.trim_start_matches("/media/").as_bytes().to_vec())];
    parts.extend(params.iter().enumerate().map(|(i, (_, v))| (i, v.as_bytes().to_vec())));
    for (part, value) in &parts {
        for byte in 0..value.len() {
            for bit in 0..8 {
                let mut flipped = value.clone();
                flipped[byte] ^= 1 << bit;
                let (path, query) = if *part == usize::MAX {
                    (format!("/media/{}", encode(&flipped)), query.to_owned())
                } else {
                    let query = params
                        .iter()
                        .enumerate()
                        .map(
                            |(i, (k, v))| {
                                if i == *part { format!("{k}={}", encode(&flipped)) } else { format!("{k}={v}") }
                            },
                        )
                        .collect::<Vec<_>>()
                        .join("&");
                    (path.to_owned(), query)
                };
                let status = client.get(format!("{origin}{path}?{query}")).send().await.unwrap().status().as_u16();
                assert_eq!(status, 403, "part {part} byte {byte} bit {bit}: {path}?{query}");
                checked += 1;
            }
        }
    }
    assert!(checked > 700, "{checked} mutations checked");
    assert_eq!(http_get(&url, Some("bytes=0-0")).await.0, 206, "the unmodified URL still works");
}

on_both_stacks!(
    playback_urls_expire_and_resist_tampering,
    playback_urls_can_download_and_share_cross_origin,
    playback_urls_answer_conditional_requests,
);
