//! `watch`: the change feed as it commits, one line per change, and the
//! cursor to resume from at the end.

use crate::{
    cli::Format,
    output::{show_time, vietnam},
};
use archive::{
    client::Connection,
    proto::v1::{self as pb, metadata_service_client::MetadataServiceClient},
};

/// `article_created` → CHANGE_KIND_ARTICLE_CREATED.
fn kind(name: &str) -> anyhow::Result<i32> {
    pb::ChangeKind::from_str_name(&format!("CHANGE_KIND_{}", name.to_ascii_uppercase()))
        .filter(|kind| *kind != pb::ChangeKind::Unspecified)
        .map(|kind| kind as i32)
        .ok_or_else(|| {
            let known: Vec<String> = (1..100)
                .filter_map(|value| pb::ChangeKind::try_from(value).ok())
                .map(|kind| kind.as_str_name().trim_start_matches("CHANGE_KIND_").to_ascii_lowercase())
                .collect();
            crate::fail::Usage(format!("--kinds: {name:?} is no change kind; one of {}", known.join(", "))).into()
        })
}

/// One change on one line: time (Vietnam), kind, resource, what changed.
fn line(change: &pb::Change) -> String {
    let kind = change.kind().as_str_name().trim_start_matches("CHANGE_KIND_").to_ascii_lowercase();
    let time = show_time(change.commit_time.as_ref(), vietnam().local_minus_utc());
    let detail = match change.kind() {
        pb::ChangeKind::MediaAttached | pb::ChangeKind::MediaDetached => {
            format!("{} at {:?}", change.media, change.reference)
        }
        pb::ChangeKind::MediaUploaded => format!("{} ({} bytes)", change.filename, change.size_bytes),
        pb::ChangeKind::ArticleViews => format!("{} views", change.view_count),
        pb::ChangeKind::ArticlePurged | pb::ChangeKind::MediaDeleted => String::new(),
        _ => format!("r{} {}", change.revision, change.title),
    };
    format!("{time}\t{kind}\t{}\t{detail}", change.name).trim_end().to_owned()
}

/// Prints changes until Ctrl-C, the end of the stream or `limit`, then the
/// cursor to resume from.
pub async fn watch(
    channel: &Connection,
    since: Option<String>,
    kinds: &[String],
    names: Vec<String>,
    limit: Option<usize>,
    format: Format,
) -> anyhow::Result<()> {
    let kinds = kinds.iter().map(|name| kind(name)).collect::<anyhow::Result<Vec<i32>>>()?;
    let mut client = MetadataServiceClient::new(channel.clone());
    let mut cursor = match since {
        Some(cursor) => cursor,
        None => client.get_change_cursor(pb::GetChangeCursorRequest {}).await?.into_inner().cursor,
    };
    let request = pb::WatchChangesRequest { cursor: cursor.clone(), kinds, names };
    let mut stream = client.watch_changes(request).await?.into_inner();
    let mut printed = 0;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let outcome = loop {
        if limit.is_some_and(|limit| printed >= limit) {
            break Ok(());
        }
        let message = tokio::select! {
            message = stream.message() => message,
            _ = &mut interrupted => break Ok(()),
        };
        let message = match message {
            Ok(Some(message)) => message,
            Ok(None) => break Ok(()),
            Err(status) => break Err(status),
        };
        for change in message.changes.iter().take(limit.map_or(usize::MAX, |limit| limit - printed)) {
            match format {
                Format::Json => println!("{}", serde_json::to_string(change)?),
                Format::Text => println!("{}", line(change)),
            }
            cursor = change.cursor.clone();
            printed += 1;
        }
        if limit.is_none_or(|limit| printed < limit) {
            cursor = message.cursor;
        }
    };
    match format {
        Format::Json => println!("{}", serde_json::json!({ "cursor": cursor })),
        Format::Text => eprintln!("resume with: archivectl watch --since {cursor}"),
    }
    Ok(outcome?)
}
