//! Vietnamese search over the index each replica keeps, fed by the
//! database's change feed: with and without diacritics, filters that follow
//! changes, and the same hits whichever database feeds it.

use super::*;

fn by(authors: &[&str], keywords: &[&str]) -> Filters {
    Filters {
        authors: authors.iter().map(|a| a.to_string()).collect(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        ..Default::default()
    }
}

async fn search_folds_vietnamese_both_ways(store: Arc<dyn MetadataStore>) {
    insert_corpus(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(&store, dir.path()).await;
    let hits = |query: &str, filters: Filters| search_ids(&index, query, filters);
    let none = Filters::default;
    assert_eq!(hits("sinh hoat chi bo", none()), ["s1"]);
    assert_eq!(hits("sinh hoạt", none()), ["s1", "s4"]);
    assert_eq!(hits("Dang", none()), ["s1", "s3"], "keyword Đảng of s1, body of s3");
    assert_eq!(hits("duong", none()), ["s2"]);
    assert_eq!(hits("hòa", none()), hits("hoà", none()));
    assert_eq!(hits("hoa", none()), ["s2", "s3"]);
    assert_eq!(hits("thuý", none()), ["s4"]);
    assert_eq!(hits("thúy kieu", none()), ["s4"]);
    assert_eq!(hits("pham ngoc", none()), ["s1", "s3"], "author");
    assert_eq!(hits("van hoc", none()), ["s4"], "keywords");
    assert_eq!(hits("quy 4 2019", none()), ["s5"]);
    assert!(hits("không có từ này", none()).is_empty());
    assert_eq!(hits("Đảng", by(&["Phạm Ngọc"], &["Thái Bình"])), ["s3"]);
    assert_eq!(hits("Đảng", by(&["Phạm Ngọc"], &[])), ["s1", "s3"]);
    assert_eq!(hits("Đảng", by(&["Ngô Đông Hải", "Phạm Ngọc"], &[])), ["s1", "s3"], "any of the authors");
    assert_eq!(hits("Đảng", by(&[], &["Đảng", "Thái Bình"])), ["s1", "s3"], "any of the keywords");
    let late = Filters { publish_start_us: Some(time(1_569_838_859 + 2).timestamp_micros()), ..none() };
    assert_eq!(hits("dang", late), ["s3"]);

    // A new author and keywords: the index follows them through the feed.
    let s3 = store.get_article(&ArticleId::parse("s3").unwrap(), None).await.unwrap();
    let (_, _, _, _, body) = CORPUS.iter().find(|c| c.0 == "s3").unwrap();
    let mut renamed = s3.clone();
    assert_eq!(hits("Đảng", by(&[], &["Thái Bình"])), ["s3"]);
    (renamed.revision, renamed.etag, renamed.author) = (2, "e2".into(), "Lê Thị Thuý".into());
    renamed.keywords = vec!["Xây dựng Đảng".into()];
    store.update_article(&s3.etag, &renamed, &text(body)).await.unwrap();
    catch_up(&store, &index).await;
    let hits = |query: &str, filters: Filters| search_ids(&index, query, filters);
    assert_eq!(hits("Đảng", by(&["Phạm Ngọc"], &[])), ["s1"]);
    assert_eq!(hits("Đảng", by(&["Lê Thị Thuý"], &[])), ["s3"]);
    // The same name decomposed (NFD) is the same author.
    let nfd: String = unicode_normalization::UnicodeNormalization::nfd("Lê Thị Thuý").collect();
    assert_eq!(hits("Đảng", by(&[&nfd], &[])), ["s3"]);
    assert!(hits("Đảng", by(&[], &["Thái Bình"])).is_empty(), "the old keyword is gone");
    assert_eq!(hits("Đảng", by(&[], &["Xây dựng Đảng"])), ["s3"]);
    assert_eq!(hits("Đảng", by(&[], &["Đảng"])), ["s1"]);

    // Deleted: gone from search; undeleted: back.
    store.delete_article(&s3.id, None).await.unwrap();
    catch_up(&store, &index).await;
    assert_eq!(search_ids(&index, "Đảng", none()), ["s1"]);
    store.undelete_article(&s3.id).await.unwrap();
    catch_up(&store, &index).await;
    assert_eq!(search_ids(&index, "Đảng", none()), ["s1", "s3"]);
}

/// An index opened on another database's (or a newer) state is rebuilt,
/// and one deleted on disk is rebuilt from the database.
async fn index_rebuilds_from_the_database(store: Arc<dyn MetadataStore>) {
    insert_corpus(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(&store, dir.path()).await;
    assert_eq!(index.num_docs(), CORPUS.len() as u64);
    let state = index.state().expect("a committed state");
    assert!(state.complete);
    assert_eq!(state.seq, store.change_feed().await.unwrap().last_seq);
    drop(index);

    std::fs::remove_dir_all(dir.path().join("search")).unwrap();
    let index = index_of(&store, dir.path()).await;
    assert_eq!(index.num_docs(), CORPUS.len() as u64, "rebuilt from the database");
    assert_eq!(search_ids(&index, "sinh hoạt", Filters::default()), ["s1", "s4"]);
    drop(index);

    // Damaged: a segment file cut short.
    let search = dir.path().join("search");
    for entry in std::fs::read_dir(&search).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "idx") {
            std::fs::write(&path, b"garbage").unwrap();
        }
    }
    std::fs::write(search.join("meta.json"), b"{ not json").unwrap();
    let index = index_of(&store, dir.path()).await;
    assert_eq!(search_ids(&index, "sinh hoạt", Filters::default()), ["s1", "s4"], "rebuilt after damage");
}

on_every_database!(search_folds_vietnamese_both_ways, index_rebuilds_from_the_database);
