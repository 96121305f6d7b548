//! Reading matches out of the index: the top results in any order (with
//! block-max WAND pruning when by relevance), a count that stops at a
//! bound, and exact facet counts over every match.

use super::{Facet, FacetCounts, Order, SortKey, schema::Fields};
use std::{cmp::Ordering, collections::BinaryHeap, collections::HashMap};
use tantivy::{
    COLLECT_BLOCK_BUFFER_LEN, DocAddress, DocId, DocSet, Score, Searcher, SegmentReader, TERMINATED,
    columnar::{Column, StrColumn},
    query::{EnableScoring, Query, Weight},
};

/// Orders two keys: `Less` when `a` comes first.
pub fn compare(order: Order, a: &SortKey, b: &SortKey) -> Ordering {
    let time = match order {
        Order::Relevance | Order::Newest => b.publish_us.cmp(&a.publish_us),
        Order::Oldest => a.publish_us.cmp(&b.publish_us),
    };
    let score = match order {
        Order::Relevance => b.score.total_cmp(&a.score),
        Order::Newest | Order::Oldest => Ordering::Equal,
    };
    score.then(time).then(a.tiebreak.cmp(&b.tiebreak))
}

/// A candidate in the heap: the worst on top.
struct Ranked {
    order: Order,
    key: SortKey,
    doc: DocAddress,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self.order, &self.key, &other.key)
    }
}

/// The `limit` best results offered so far that come after `after`.
pub struct TopK<'a> {
    order: Order,
    limit: usize,
    after: Option<&'a SortKey>,
    heap: BinaryHeap<Ranked>,
}

impl<'a> TopK<'a> {
    pub fn new(order: Order, limit: usize, after: Option<&'a SortKey>) -> Self {
        Self { order, limit, after, heap: BinaryHeap::with_capacity(limit + 1) }
    }

    /// Keeps `doc` when it comes after `after` and among the best so far.
    pub fn offer(&mut self, key: SortKey, doc: DocAddress) {
        if self.after.is_some_and(|after| compare(self.order, &key, after) != Ordering::Greater) {
            return;
        }
        let candidate = Ranked { order: self.order, key, doc };
        if self.heap.len() < self.limit {
            self.heap.push(candidate);
        } else if self.heap.peek().is_some_and(|worst| candidate < *worst) {
            self.heap.pop();
            self.heap.push(candidate);
        }
    }

    /// The score a result must reach to be kept, once full (a document
    /// scoring as much as the worst kept may still come first on a tie).
    pub fn threshold(&self) -> Option<Score> {
        match self.heap.peek() {
            Some(worst) if self.heap.len() >= self.limit => Some(worst.key.score),
            _ => None,
        }
    }

    /// What was kept, best first.
    pub fn into_sorted(self) -> Vec<(SortKey, DocAddress)> {
        let mut ranked = self.heap.into_vec();
        ranked.sort();
        ranked.into_iter().map(|r| (r.key, r.doc)).collect()
    }
}

/// The columns every order reads of a segment.
pub struct SortColumns {
    publish: Column<i64>,
    tiebreak: Column<u64>,
}

impl SortColumns {
    pub fn of(reader: &SegmentReader, fields: &Fields) -> tantivy::Result<Self> {
        let name = |field| reader.schema().get_field_name(field);
        Ok(Self {
            publish: reader.fast_fields().i64(name(fields.publish_us))?,
            tiebreak: reader.fast_fields().u64(name(fields.tiebreak))?,
        })
    }

    pub fn key(&self, doc: DocId, score: Score) -> SortKey {
        SortKey {
            score,
            publish_us: self.publish.first(doc).unwrap_or_default(),
            tiebreak: self.tiebreak.first(doc).unwrap_or_default(),
        }
    }
}

/// The `limit` best matches of `query` in `order` that come after `after`
/// (by relevance: tantivy's own scores, pruned by block-max WAND where the
/// query allows it).
pub fn top(
    searcher: &Searcher,
    fields: &Fields,
    query: &dyn Query,
    order: Order,
    limit: usize,
    after: Option<&SortKey>,
) -> tantivy::Result<Vec<(SortKey, DocAddress)>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let scoring = match order {
        Order::Relevance => EnableScoring::enabled_from_searcher(searcher),
        Order::Newest | Order::Oldest => EnableScoring::disabled_from_searcher(searcher),
    };
    let weight = query.weight(scoring)?;
    let mut top = TopK::new(order, limit, after);
    for (segment_ord, reader) in searcher.segment_readers().iter().enumerate() {
        let columns = SortColumns::of(reader, fields)?;
        let alive = reader.alive_bitset();
        let offer = |doc: DocId, score: Score, top: &mut TopK| {
            if alive.is_none_or(|bits| bits.is_alive(doc)) {
                top.offer(columns.key(doc, score), DocAddress::new(segment_ord as u32, doc));
            }
        };
        match order {
            Order::Relevance => {
                weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
                    offer(doc, score, &mut top);
                    top.threshold().map_or(Score::MIN, f32::next_down)
                })?;
            }
            Order::Newest | Order::Oldest => {
                weight.for_each_no_score(reader, &mut |docs| {
                    for &doc in docs {
                        offer(doc, 0.0, &mut top);
                    }
                })?;
            }
        }
    }
    Ok(top.into_sorted())
}

/// The matches of `query`, counted up to `bound`: `(count, reached)`.
pub fn count_up_to(searcher: &Searcher, query: &dyn Query, bound: u64) -> tantivy::Result<(u64, bool)> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut count = 0u64;
    for reader in searcher.segment_readers() {
        let alive = reader.alive_bitset();
        let mut scorer = weight.scorer(reader, 1.0)?;
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|bits| bits.is_alive(doc)) {
                count += 1;
                if count >= bound {
                    return Ok((count, true));
                }
            }
            doc = scorer.advance();
        }
    }
    Ok((count, false))
}

/// Counts per value of each facet in one segment.
#[derive(Default)]
struct SegmentCounts {
    by_ord: HashMap<Facet, Vec<u64>>,
    months: HashMap<i64, u64>,
    has_media: [u64; 2],
}

/// Every match of `query` counted under each of `facets`, and the number
/// of matches.
pub fn facet_counts(
    searcher: &Searcher,
    fields: &Fields,
    query: &dyn Query,
    facets: &[Facet],
    size: usize,
) -> tantivy::Result<(Vec<FacetCounts>, u64)> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut values: HashMap<Facet, HashMap<String, u64>> = HashMap::new();
    let mut months: HashMap<i64, u64> = HashMap::new();
    let mut has_media = [0u64; 2];
    let mut total = 0u64;
    for reader in searcher.segment_readers() {
        let (counts, matched) = count_segment(reader, fields, weight.as_ref(), facets)?;
        total += matched;
        for (facet, column) in [(Facet::Author, fields.author), (Facet::Keyword, fields.keywords)] {
            let Some(by_ord) = counts.by_ord.get(&facet) else { continue };
            let Some(strings) = reader.fast_fields().str(reader.schema().get_field_name(column))? else { continue };
            let merged = values.entry(facet).or_default();
            let mut text = String::new();
            for (ord, &count) in by_ord.iter().enumerate().filter(|(_, c)| **c > 0) {
                text.clear();
                strings.ord_to_str(ord as u64, &mut text)?;
                *merged.entry(text.clone()).or_default() += count;
            }
        }
        for (month, count) in counts.months {
            *months.entry(month).or_default() += count;
        }
        has_media[0] += counts.has_media[0];
        has_media[1] += counts.has_media[1];
    }
    let result = facets
        .iter()
        .map(|&facet| {
            let (values, by_time): (Vec<(String, u64)>, bool) = match facet {
                Facet::Author | Facet::Keyword => {
                    (values.remove(&facet).unwrap_or_default().into_iter().collect(), false)
                }
                Facet::PublishMonth => {
                    (months.iter().map(|(m, c)| (format!("{:04}-{:02}", m / 100, m % 100), *c)).collect(), true)
                }
                Facet::PublishYear => {
                    let mut years: HashMap<i64, u64> = HashMap::new();
                    for (month, count) in &months {
                        *years.entry(month / 100).or_default() += count;
                    }
                    (years.into_iter().map(|(y, c)| (format!("{y:04}"), c)).collect(), true)
                }
                Facet::HasMedia => (
                    [("false", has_media[0]), ("true", has_media[1])]
                        .into_iter()
                        .filter(|(_, c)| *c > 0)
                        .map(|(v, c)| (v.to_owned(), c))
                        .collect(),
                    false,
                ),
            };
            ranked_values(facet, values, by_time, size)
        })
        .collect();
    Ok((result, total))
}

/// The `size` values to show: newest first for time facets, else most
/// frequent first (then by value); the rest summed.
fn ranked_values(facet: Facet, mut values: Vec<(String, u64)>, by_time: bool, size: usize) -> FacetCounts {
    if by_time {
        values.sort_by(|a, b| b.0.cmp(&a.0));
    } else {
        values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    let other_count = values.iter().skip(size).map(|(_, c)| c).sum();
    values.truncate(size);
    FacetCounts { facet, values, other_count }
}

fn count_segment(
    reader: &SegmentReader,
    fields: &Fields,
    weight: &dyn Weight,
    facets: &[Facet],
) -> tantivy::Result<(SegmentCounts, u64)> {
    let fast = reader.fast_fields();
    let name = |field| reader.schema().get_field_name(field);
    let strings = |field| -> tantivy::Result<Option<StrColumn>> { fast.str(name(field)) };
    let author = if facets.contains(&Facet::Author) { strings(fields.author)? } else { None };
    let keywords = if facets.contains(&Facet::Keyword) { strings(fields.keywords)? } else { None };
    let month: Option<Column<i64>> = if facets.iter().any(|f| matches!(f, Facet::PublishMonth | Facet::PublishYear)) {
        Some(fast.i64(name(fields.month))?)
    } else {
        None
    };
    let media: Option<Column<u64>> =
        if facets.contains(&Facet::HasMedia) { Some(fast.u64(name(fields.has_media))?) } else { None };
    let mut counts = SegmentCounts::default();
    let mut author_counts = author.as_ref().map(|c| vec![0u64; c.num_terms()]);
    let mut keyword_counts = keywords.as_ref().map(|c| vec![0u64; c.num_terms()]);
    // Months (yyyymm) counted in an array from the segment's first month.
    let first_month = month.as_ref().map_or(0, |c| c.min_value());
    let mut month_counts =
        month.as_ref().map(|c| vec![0u64; usize::try_from(c.max_value() - first_month + 1).unwrap_or(0)]);
    let alive = reader.alive_bitset();
    let mut matched = 0u64;
    let mut live: Vec<DocId> = Vec::with_capacity(COLLECT_BLOCK_BUFFER_LEN);
    let mut values: Vec<Option<u64>> = vec![None; COLLECT_BLOCK_BUFFER_LEN];
    let mut months: Vec<Option<i64>> = vec![None; COLLECT_BLOCK_BUFFER_LEN];
    weight.for_each_no_score(reader, &mut |docs| {
        // A block of matches at a time: columns read in batches.
        let docs = match alive {
            Some(bits) => {
                live.clear();
                live.extend(docs.iter().copied().filter(|&doc| bits.is_alive(doc)));
                &live[..]
            }
            None => docs,
        };
        matched += docs.len() as u64;
        if values.len() < docs.len() {
            values.resize(docs.len(), None);
            months.resize(docs.len(), None);
        }
        if let (Some(column), Some(counts)) = (&author, &mut author_counts) {
            values[..docs.len()].fill(None);
            column.ords().first_vals(docs, &mut values[..docs.len()]);
            for ord in values[..docs.len()].iter().flatten() {
                counts[*ord as usize] += 1;
            }
        }
        if let (Some(column), Some(counts)) = (&keywords, &mut keyword_counts) {
            for &doc in docs {
                for ord in column.term_ords(doc) {
                    counts[ord as usize] += 1;
                }
            }
        }
        if let (Some(column), Some(counts)) = (&month, &mut month_counts) {
            months[..docs.len()].fill(None);
            column.first_vals(docs, &mut months[..docs.len()]);
            for value in months[..docs.len()].iter().flatten() {
                counts[(value - first_month) as usize] += 1;
            }
        }
        if let Some(column) = &media {
            values[..docs.len()].fill(None);
            column.first_vals(docs, &mut values[..docs.len()]);
            for value in &values[..docs.len()] {
                counts.has_media[usize::from(value.unwrap_or_default() > 0)] += 1;
            }
        }
    })?;
    if let Some(by_month) = month_counts {
        let present = by_month.into_iter().enumerate().filter(|(_, count)| *count > 0);
        counts.months.extend(present.map(|(i, count)| (first_month + i as i64, count)));
    }
    if let Some(by_ord) = author_counts {
        counts.by_ord.insert(Facet::Author, by_ord);
    }
    if let Some(by_ord) = keyword_counts {
        counts.by_ord.insert(Facet::Keyword, by_ord);
    }
    Ok((counts, matched))
}
