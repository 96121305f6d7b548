//! What the index holds for an article: its fields, how each is analysed,
//! and the document made from an article's current revision. The one owner
//! of the index's shape: change a field or an analysis, raise
//! [`SCHEMA_VERSION`] and every replica rebuilds its index at start.

use super::text::{Form, VietnameseTokenizer};
use crate::metadata::{ArticleRecord, IndexedArticle};
use chrono::{Datelike, FixedOffset};
use tantivy::{
    Index, TantivyDocument, Term,
    schema::{FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value},
};

/// Which shape of index this code writes (see the module's docs).
/// 1: folded and exact words, filters and facets as fast fields.
/// 2: adjacent word pairs (`pairs`) to narrow phrases.
/// 3: every folded word in one field (`all`) for matching; pairs with
///    positions (a phrase of three words and more is a phrase of pairs);
///    the folded fields without positions (phrases no longer read them).
/// 4: adjacent exact pairs of title and body (`pairs_exact`); exact words
///    without frequencies or positions.
/// 5: the words of the linked clips' caption tracks (`captions`, and in
///    `all` and `pairs`, one value per cue).
pub const SCHEMA_VERSION: u32 = 5;

/// Vietnam time: what facets by day, month and year count in.
pub const VIETNAM: FixedOffset = FixedOffset::east_opt(7 * 3600).expect("UTC+07:00 is an offset");

/// The index's fields.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// The article id, exact: deletes and replaces find a document by it.
    pub id: Field,
    /// Folded words of each text, with frequencies (scores).
    pub title: Field,
    pub body: Field,
    pub author_text: Field,
    pub keywords_text: Field,
    /// Folded words of every cue of the linked clips' caption tracks.
    pub captions: Field,
    /// Exact words of the title and body: a word typed with diacritics
    /// ranks these matches first.
    pub title_exact: Field,
    pub body_exact: Field,
    /// Every folded word of every text, without frequencies: what a word
    /// matches (one posting list instead of a union of four).
    pub all: Field,
    /// Adjacent folded word pairs of every text, with positions: what a
    /// phrase matches.
    pub pairs: Field,
    /// Adjacent exact word pairs of the title and body, with positions:
    /// where a phrase typed with diacritics is exactly.
    pub pairs_exact: Field,
    /// Filters and facets: exact values (NFC).
    pub author: Field,
    pub keywords: Field,
    /// Publish time in microseconds since the epoch (filters, ordering,
    /// ties).
    pub publish_us: Field,
    /// Publish month in Vietnam time as `yyyymm` (facets).
    pub month: Field,
    /// 1 when the article links a clip.
    pub has_media: Field,
    /// A number fixed per article: the last tie-break of every order.
    pub tiebreak: Field,
}

fn text(tokenizer: VietnameseTokenizer, record: IndexRecordOption) -> TextOptions {
    TextOptions::default()
        .set_indexing_options(TextFieldIndexing::default().set_tokenizer(tokenizer.name()).set_index_option(record))
}

/// The schema and its fields (names as [`fields_of`] reads them).
pub fn schema() -> (Schema, Fields) {
    let folded = VietnameseTokenizer(Form::Folded);
    let exact = VietnameseTokenizer(Form::Exact);
    let pairs = VietnameseTokenizer(Form::Pairs);
    let exact_pairs = VietnameseTokenizer(Form::ExactPairs);
    let freqs = IndexRecordOption::WithFreqs;
    let positions = IndexRecordOption::WithFreqsAndPositions;
    let mut builder = Schema::builder();
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        title: builder.add_text_field("title", text(folded, freqs)),
        body: builder.add_text_field("body", text(folded, freqs)),
        author_text: builder.add_text_field("author_text", text(folded, freqs)),
        keywords_text: builder.add_text_field("keywords_text", text(folded, freqs)),
        captions: builder.add_text_field("captions", text(folded, freqs)),
        title_exact: builder.add_text_field("title_exact", text(exact, IndexRecordOption::Basic)),
        body_exact: builder.add_text_field("body_exact", text(exact, IndexRecordOption::Basic)),
        all: builder.add_text_field("all", text(folded, IndexRecordOption::Basic)),
        pairs: builder.add_text_field("pairs", text(pairs, positions)),
        pairs_exact: builder.add_text_field("pairs_exact", text(exact_pairs, positions)),
        author: builder.add_text_field("author", STRING | FAST),
        keywords: builder.add_text_field("keywords", STRING | FAST),
        publish_us: builder.add_i64_field("publish_us", INDEXED | FAST),
        month: builder.add_i64_field("month", FAST),
        has_media: builder.add_u64_field("has_media", INDEXED | FAST),
        tiebreak: builder.add_u64_field("tiebreak", FAST),
    };
    (builder.build(), fields)
}

/// The fields of an index's `schema` (one this code made), by name.
pub fn fields_of(schema: &Schema) -> tantivy::Result<Fields> {
    let field = |name: &str| schema.get_field(name);
    Ok(Fields {
        id: field("id")?,
        title: field("title")?,
        body: field("body")?,
        author_text: field("author_text")?,
        keywords_text: field("keywords_text")?,
        captions: field("captions")?,
        title_exact: field("title_exact")?,
        body_exact: field("body_exact")?,
        all: field("all")?,
        pairs: field("pairs")?,
        pairs_exact: field("pairs_exact")?,
        author: field("author")?,
        keywords: field("keywords")?,
        publish_us: field("publish_us")?,
        month: field("month")?,
        has_media: field("has_media")?,
        tiebreak: field("tiebreak")?,
    })
}

/// Registers the tokenizers the schema names on `index`.
pub fn register_tokenizers(index: &Index) {
    for tokenizer in [Form::Folded, Form::Exact, Form::Pairs, Form::ExactPairs].map(VietnameseTokenizer) {
        index.tokenizers().register(tokenizer.name(), tokenizer);
    }
}

/// The exact value filters and facets use: NFC, so either normal form of a
/// name is the same value.
pub fn exact_value(value: &str) -> String {
    crate::format::forms::nfc(value)
}

/// The publish month of `record` in Vietnam time, as `yyyymm`.
pub fn vietnam_month(record: &ArticleRecord) -> i64 {
    let local = record.publish_time.with_timezone(&VIETNAM);
    i64::from(local.year()) * 100 + i64::from(local.month())
}

/// The tie-break of an article: fixed by its id.
pub fn tiebreak(id: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// True when the article links at least one stored clip.
pub fn has_media(record: &ArticleRecord) -> bool {
    record.media.iter().any(|link| link.media_id.is_some())
}

impl Fields {
    /// The term that finds an article's document.
    pub fn id_term(&self, id: &str) -> Term {
        Term::from_field_text(self.id, id)
    }

    /// The document of an article's current revision.
    pub fn document(&self, article: &IndexedArticle) -> TantivyDocument {
        let record = &article.record;
        let mut doc = TantivyDocument::default();
        doc.add_text(self.id, record.id.as_str());
        for field in [self.title, self.title_exact, self.pairs_exact] {
            doc.add_text(field, &record.title);
        }
        for field in [self.body, self.body_exact, self.pairs_exact] {
            doc.add_text(field, &article.body);
        }
        // Each text a value of its own: no pair spans two of them (nor two cues).
        let cues = article.captions.iter().flat_map(|track| &track.cues).map(|cue| &cue.text);
        for text in
            [&record.title, &article.body, &record.author].into_iter().chain(&record.keywords).chain(cues.clone())
        {
            doc.add_text(self.all, text);
            doc.add_text(self.pairs, text);
        }
        for cue in cues {
            doc.add_text(self.captions, cue);
        }
        if !record.author.is_empty() {
            doc.add_text(self.author_text, &record.author);
        }
        for keyword in record.keywords.iter().filter(|k| !k.is_empty()) {
            doc.add_text(self.keywords_text, keyword);
        }
        if !record.author.is_empty() {
            doc.add_text(self.author, exact_value(&record.author));
        }
        for keyword in record.keywords.iter().filter(|k| !k.is_empty()) {
            doc.add_text(self.keywords, exact_value(keyword));
        }
        doc.add_i64(self.publish_us, record.publish_time.timestamp_micros());
        doc.add_i64(self.month, vietnam_month(record));
        doc.add_u64(self.has_media, u64::from(has_media(record)));
        doc.add_u64(self.tiebreak, tiebreak(record.id.as_str()));
        doc
    }

    /// The article id of a stored document.
    pub fn id_of(&self, doc: &TantivyDocument) -> Option<String> {
        doc.get_first(self.id).and_then(|value| value.as_str()).map(str::to_owned)
    }
}
