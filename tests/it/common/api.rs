//! What tests read from the API's answers and build of its requests, once.

use archive::proto::v1 as pb;

/// An article to create: text, author, keywords, publish time (seconds)
/// at +07:00.
pub fn article(title: &str, body: &str, author: &str, keywords: &[&str], publish_seconds: i64) -> pb::Article {
    pb::Article {
        title: title.into(),
        body: body.into(),
        author: author.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        publish_time: Some(pbjson_types::Timestamp { seconds: publish_seconds, nanos: 0 }),
        publish_utc_offset_seconds: 7 * 3600,
        ..Default::default()
    }
}

/// The ErrorInfo reason of a status, empty when it carries none.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status.get_details_error_info().map(|info| info.reason).unwrap_or_default()
}

/// An UpdateArticleRequest of `article` at its etag: its name and what
/// `change` sets, under `mask`; nothing else of `article` is sent.
pub fn update_request(
    article: &pb::Article,
    mask: &[&str],
    change: impl FnOnce(&mut pb::Article),
) -> pb::UpdateArticleRequest {
    let mut changed = pb::Article { name: article.name.clone(), ..Default::default() };
    change(&mut changed);
    pb::UpdateArticleRequest {
        article: Some(changed),
        update_mask: Some(pbjson_types::FieldMask { paths: mask.iter().map(|path| path.to_string()).collect() }),
        etag: article.etag.clone(),
    }
}
