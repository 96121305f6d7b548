//! The MetadataStore contract, run on SQLite and PostgreSQL
//! (`on_every_database!`), by concern.

use crate::common;

use archive::{
    blob::BlobKey,
    config::MetadataSettings,
    error::{ErrorKind, Reason},
    ids::{ArticleId, MediaId, UploadId},
    metadata::{
        self, ArchiveStatistics, ArticleQuery, ArticleRecord, MediaCursor, MediaLink, MediaRecord, MetadataStore,
        ObjectKind, ObjectRef, PictureAdded, PictureLookup, PictureRecord, SearchText, UploadProgress, UploadSession,
    },
    search::{Filters, IndexSearch, Order, SearchIndex, projection::Projection, query},
};
use chrono::{DateTime, Utc};
use std::sync::Arc;

async fn sqlite() -> (Arc<dyn MetadataStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = MetadataSettings {
        url: format!("sqlite://{}", dir.path().join("m.db").display()),
        max_connections: 4,
        ..Default::default()
    };
    (metadata::open(&settings).await.expect("opens"), dir)
}

async fn postgres() -> (Arc<dyn MetadataStore>, ()) {
    let settings =
        MetadataSettings { url: common::fresh_postgres_url().await, max_connections: 8, ..Default::default() };
    (metadata::open(&settings).await.expect("opens"), ())
}

fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

fn record(id: &str, publish: i64, keywords: &[&str]) -> ArticleRecord {
    let id = ArticleId::parse(id).unwrap();
    ArticleRecord {
        body: ObjectRef { key: BlobKey::new_article_body(&id), size_bytes: 3, sha256: "ab".repeat(32) },
        id,
        revision: 1,
        etag: "e1".into(),
        title: "Hội nghị giao ban".into(),
        author: "Phạm Ngọc".into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        publish_time: time(publish),
        publish_utc_offset_seconds: 25_200,
        view_count: 89,
        create_time: time(1_700_000_000),
        update_time: time(1_700_000_000),
        media: vec![MediaLink { reference: "93019_OHAI1.mp4".into(), media_id: None, in_body: true }],
        delete_time: None,
        legal_hold: false,
    }
}

/// The text an article's body gives search.
fn text(body: &str) -> SearchText {
    SearchText { body: body.into() }
}

fn media(id: &str) -> MediaRecord {
    let id = MediaId::parse(id).unwrap();
    MediaRecord {
        object: ObjectRef { key: BlobKey::new_media_original(&id), size_bytes: 816_813, sha256: "cd".repeat(32) },
        crc32c: 0xDEAD_BEEF,
        mp4: Some(archive::format::mp4::Mp4Info {
            duration_ms: 9_000,
            video_codec: "avc1.4D401E".into(),
            audio_codec: "mp4a.40.2".into(),
            width: 320,
            height: 240,
            bitrate_bps: 726_056,
            faststart: false,
        }),
        rendition: Some(ObjectRef {
            key: BlobKey::new_media_rendition(&id),
            size_bytes: 816_800,
            sha256: "ef".repeat(32),
        }),
        id,
        filename: "93019_OHAI1.mp4".into(),
        content_type: "video/mp4".into(),
        create_time: time(1_700_000_001),
        revision: 1,
    }
}

/// An open upload session of a new clip.
fn upload_session(media_id: &str) -> UploadSession {
    let media_id = MediaId::parse(media_id).unwrap();
    UploadSession {
        id: UploadId::generate(),
        key: BlobKey::new_media_original(&media_id),
        media_id,
        filename: "dang-tai.mp4".into(),
        content_type: "video/mp4".into(),
        multipart_id: "mp-1".into(),
        part_size: 1 << 20,
        progress: UploadProgress { committed_offset: 0, parts_done: 0, sha256_state: vec![0; 8], crc32c: 0 },
        create_time: time(1_700_000_000),
        expire_time: time(1_800_000_000),
        finished: false,
        owner: "cms".into(),
        declared_size: None,
        tail_bytes: 0,
    }
}

fn micros_of(media: &MediaRecord) -> i64 {
    media.create_time.timestamp_micros()
}

/// The shared corpus: both databases must give exactly these hits.
const CORPUS: &[(&str, &str, &str, &[&str], &str)] = &[
    (
        "s1",
        "Nâng cao chất lượng sinh hoạt chi bộ",
        "Phạm Ngọc",
        &["Đảng"],
        "Tỉnh Thái Bình duy trì nề nếp sinh hoạt chi bộ vào ngày mùng 3.",
    ),
    ("s2", "Đường Trường Sơn", "Ngô Đông Hải", &[], "Con đường huyền thoại, hòa bình và thống nhất."),
    ("s3", "Giao ban trực tuyến", "Phạm Ngọc", &["Thái Bình"], "Xây dựng Đảng trong sạch, vững mạnh; hoà hợp dân tộc."),
    ("s4", "Thuý Kiều", "Nguyễn Du", &["văn học"], "Chị em Thúy Kiều, sinh hoạt văn nghệ."),
    ("s5", "Kinh tế quý 4.2019", "Đỗ Xuân Thành", &[], "Tăng trưởng kinh tế xã hội của địa phương."),
];

async fn insert_corpus(store: &Arc<dyn MetadataStore>) {
    for (i, (id, title, author, keywords, body)) in CORPUS.iter().enumerate() {
        let mut article = record(id, 1_569_838_859 + i as i64, keywords);
        article.title = title.to_string();
        article.author = author.to_string();
        store.insert_article(&article, &text(body)).await.unwrap();
    }
}

/// A search index of `store` in `dir`, caught up with its change feed.
async fn index_of(store: &Arc<dyn MetadataStore>, dir: &std::path::Path) -> Arc<SearchIndex> {
    let index = Arc::new(SearchIndex::open(&dir.join("search"), 16 << 20).expect("index opens"));
    catch_up(store, &index).await;
    index
}

/// Applies every change `store` committed so far to `index`.
async fn catch_up(store: &Arc<dyn MetadataStore>, index: &Arc<SearchIndex>) {
    Projection::new(index.clone(), store.clone(), store.clone()).catch_up().await.expect("index catches up");
}

/// The ids of the first ten hits of `query` under `filters`, sorted.
fn search_ids(index: &SearchIndex, query: &str, filters: Filters) -> Vec<String> {
    let search = IndexSearch {
        query: query::parse(query).expect("a valid query"),
        filters,
        order: Order::Relevance,
        limit: 10,
        after: None,
        facets: Vec::new(),
        facet_size: 10,
    };
    let mut ids: Vec<String> = index.search(&search).unwrap().hits.into_iter().map(|h| h.id.to_string()).collect();
    ids.sort();
    ids
}

macro_rules! on_every_database {
    ($($test:ident),* $(,)?) => {
        on_every_database!(@database sqlite_backend, sqlite; $($test),*);
        on_every_database!(@database postgres_backend, postgres; $($test),*);
    };
    (@database $module:ident, $open:ident; $($test:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if stringify!($open) == "postgres" {
                        $crate::skip_without!(POSTGRES);
                    }
                    let (store, _guard) = super::$open().await;
                    super::$test(store).await;
                }
            )*
        }
    };
}

mod articles;
mod clips;
mod vietnamese_search;
