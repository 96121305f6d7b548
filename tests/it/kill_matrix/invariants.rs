//! What must hold once the dust settled: the bucket and the database agree
//! object for object, nothing is left half-written or open, and every
//! write a client was told succeeded is there, byte for byte.

use super::{articles::Revision, uploads::Planned};
use archive::{
    blob::BlobKey,
    domain::Archive,
    metadata::{ArticleQuery, MediaCursor, ObjectRef},
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One line of the table: what was counted, what it must be, what it is,
/// and the first offenders.
pub struct Check {
    pub name: &'static str,
    pub expected: usize,
    pub found: usize,
    pub examples: Vec<String>,
}

impl Check {
    fn new(name: &'static str, expected: usize, offenders: Vec<String>) -> Self {
        Self { name, expected, found: offenders.len(), examples: offenders.into_iter().take(5).collect() }
    }

    /// For "every X" lines: how many of `total` hold.
    fn all(name: &'static str, total: usize, offenders: Vec<String>) -> Self {
        let mut check = Self::new(name, total, offenders.clone());
        check.found = total - offenders.len();
        check.examples = offenders.into_iter().take(5).collect();
        check
    }

    pub fn holds(&self) -> bool {
        self.found == self.expected
    }
}

/// Every object in the bucket with its size.
async fn bucket_objects(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, u64> {
    let mut objects = BTreeMap::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.try_next().await.expect("lists the bucket") {
        for object in page.contents() {
            objects.insert(object.key().unwrap_or_default().to_owned(), object.size().unwrap_or(0) as u64);
        }
    }
    objects
}

async fn open_multipart_uploads(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let uploads = s3.list_multipart_uploads().bucket(bucket).send().await.expect("lists multipart uploads");
    uploads
        .uploads()
        .iter()
        .map(|u| format!("{} ({})", u.key().unwrap_or_default(), u.upload_id().unwrap_or_default()))
        .collect()
}

/// SHA-256 of an object, streamed.
async fn object_sha256(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<String, String> {
    let object = s3.get_object().bucket(bucket).key(key).send().await.map_err(|e| format!("{e:?}"))?;
    let mut body = object.body;
    let mut hasher = Sha256::new();
    while let Some(bytes) = body.try_next().await.map_err(|e| format!("{e:?}"))? {
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

pub struct Expected<'a> {
    /// Uploads a client was told (or a retry learnt) are stored.
    pub stored: Vec<&'a Planned>,
    /// Uploads the client cancelled.
    pub cancelled: Vec<&'a Planned>,
    pub revisions: &'a [Revision],
}

pub async fn check(archive: &Archive, s3: &aws_sdk_s3::Client, bucket: &str, expected: &Expected<'_>) -> Vec<Check> {
    let metadata = archive.metadata();
    let mut media = Vec::new();
    let mut after: Option<MediaCursor> = None;
    loop {
        let page = metadata.list_media(after.as_ref(), 500).await.expect("lists media");
        let Some(last) = page.last() else { break };
        after = Some(MediaCursor { create_time_micros: last.create_time.timestamp_micros(), id: last.id.to_string() });
        media.extend(page);
    }
    let mut articles = Vec::new();
    let mut query = ArticleQuery { page_size: 500, ..Default::default() };
    loop {
        let page = metadata.list_articles(&query).await.expect("lists articles");
        articles.extend(page.articles);
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let mut revisions = Vec::new();
    for article in &articles {
        revisions.extend(metadata.list_revisions(&article.id, None, 1000).await.expect("lists revisions"));
    }

    // A clip's other files: its poster (made after upload), tracks and pictures.
    let mut files: Vec<(ObjectRef, String)> = Vec::new();
    for record in &media {
        if let Some(poster) = metadata.poster(&record.id).await.expect("reads the poster") {
            files.push((poster.object, format!("media/{} poster", record.id)));
        }
        for track in metadata.caption_tracks(&record.id).await.expect("reads the tracks") {
            let name = track.name();
            files.push((track.source, format!("{name} source")));
            files.push((track.served, format!("{name} served")));
        }
        for picture in metadata.pictures(&record.id).await.expect("reads the pictures") {
            files.push((picture.object, format!("media/{} picture {}", record.id, picture.name)));
        }
    }
    // What the records name: (key, size, what names it).
    let mut named: Vec<(&ObjectRef, String)> = Vec::new();
    for record in &media {
        named.push((&record.object, format!("media/{} original", record.id)));
        if let Some(rendition) = &record.rendition {
            named.push((rendition, format!("media/{} rendition", record.id)));
        }
    }
    named.extend(files.iter().map(|(object, owner)| (object, owner.clone())));
    for revision in &revisions {
        named.push((&revision.body, format!("articles/{} revision {}", revision.id, revision.revision)));
    }
    let named_keys: HashSet<&str> = named.iter().map(|(object, _)| object.key.as_str()).collect();
    let owners: HashSet<String> = media
        .iter()
        .map(|m| format!("media/{}/", m.id))
        .chain(articles.iter().map(|a| format!("articles/{}/", a.id)))
        .collect();

    let objects = bucket_objects(s3, bucket).await;
    let mut partial = Vec::new();
    let mut without_record = Vec::new();
    for (key, size) in &objects {
        let parsed = BlobKey::parse(key);
        let is_manifest = parsed.as_ref().is_some_and(|k| k.is_manifest());
        if is_manifest {
            let owner = key.trim_end_matches("manifest.json");
            if !owners.contains(owner) {
                without_record.push(format!("{key} (a manifest of nothing recorded)"));
            }
            continue;
        }
        if let Some((object, _)) = named.iter().find(|(object, _)| object.key.as_str() == key) {
            if object.size_bytes != *size {
                partial.push(format!("{key}: {size} bytes, recorded {}", object.size_bytes));
            }
        } else {
            without_record.push(format!("{key} ({size} bytes)"));
            if key.starts_with("media/") {
                partial.push(format!("{key}: a clip's object no record names ({size} bytes)"));
            }
        }
    }
    let mut missing = Vec::new();
    for (object, owner) in &named {
        match objects.get(object.key.as_str()) {
            None => missing.push(format!("{owner}: {} missing", object.key)),
            Some(size) if *size != object.size_bytes => {
                missing.push(format!("{owner}: {} has {size} bytes, recorded {}", object.key, object.size_bytes))
            }
            Some(_) => {}
        }
    }
    let _ = named_keys;
    // The manifests (what a reindex rebuilds the database from): one per
    // record, each article's naming every revision.
    let mut without_manifest: Vec<String> = owners
        .iter()
        .filter(|owner| !objects.contains_key(&format!("{owner}manifest.json")))
        .map(|owner| format!("{owner}manifest.json missing"))
        .collect();
    for article in &articles {
        let key = format!("articles/{}/manifest.json", article.id);
        if !objects.contains_key(&key) {
            continue;
        }
        let manifest = s3.get_object().bucket(bucket).key(&key).send().await.expect("reads a manifest");
        let bytes = manifest.body.collect().await.expect("reads a manifest").into_bytes();
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).expect("a manifest is JSON");
        let listed = manifest["revisions"].as_array().map_or(0, Vec::len) as i64;
        if listed != article.revision {
            without_manifest.push(format!("{key} lists {listed} revisions, the record {}", article.revision));
        }
    }

    // Every clip a client was told is stored: recorded with its checksum,
    // its bytes SHA-256-equal to the source.
    let by_id: HashMap<String, &archive::metadata::MediaRecord> = media.iter().map(|m| (m.id.to_string(), m)).collect();
    let mut absent = Vec::new();
    let mut unequal = Vec::new();
    for planned in &expected.stored {
        let Some(record) = by_id.get(&planned.media_id) else {
            absent.push(format!("media/{} ({} bytes) not recorded", planned.media_id, planned.source.size()));
            continue;
        };
        if record.object.sha256 != planned.sha256 || record.object.size_bytes != planned.source.size() {
            unequal.push(format!(
                "media/{}: record says {} bytes {}",
                planned.media_id, record.object.size_bytes, record.object.sha256
            ));
            continue;
        }
        match object_sha256(s3, bucket, record.object.key.as_str()).await {
            Ok(sha256) if sha256 == planned.sha256 => {}
            Ok(sha256) => unequal.push(format!("media/{}: stored bytes hash to {sha256}", planned.media_id)),
            Err(error) => unequal.push(format!("media/{}: reading {}: {error}", planned.media_id, record.object.key)),
        }
    }
    let cancelled_visible: Vec<String> = expected
        .cancelled
        .iter()
        .filter(|planned| by_id.contains_key(&planned.media_id))
        .map(|planned| format!("media/{} was cancelled", planned.media_id))
        .collect();
    let recorded_revisions: HashMap<(String, i64), &str> =
        revisions.iter().map(|r| ((r.id.to_string(), r.revision), r.body.sha256.as_str())).collect();
    for revision in expected.revisions {
        match recorded_revisions.get(&(revision.article_id.clone(), revision.revision)) {
            Some(sha256) if *sha256 == revision.body_sha256 => {}
            Some(sha256) => absent.push(format!(
                "articles/{} revision {}: body {sha256}, acknowledged {}",
                revision.article_id, revision.revision, revision.body_sha256
            )),
            None => absent.push(format!("articles/{} revision {} missing", revision.article_id, revision.revision)),
        }
    }
    let open_sessions = metadata.statistics().await.expect("statistics").open_uploads as usize;

    vec![
        Check::new("partial objects visible", 0, partial),
        Check::new("metadata rows without blob", 0, missing),
        Check::new("blobs without metadata", 0, without_record),
        Check::new("open multipart uploads", 0, open_multipart_uploads(s3, bucket).await),
        Check::new("open upload sessions", 0, (0..open_sessions).map(|_| "an unfinished session".into()).collect()),
        Check::new("cancelled uploads visible", 0, cancelled_visible),
        Check::new("records without a current manifest", 0, without_manifest),
        Check::all("completed clips SHA-256-equal to source", expected.stored.len(), unequal),
        Check::all("acknowledged writes present", expected.stored.len() + expected.revisions.len(), absent),
    ]
}
