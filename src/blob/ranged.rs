//! One long read as several ranged GETs at once, delivered in order.
//!
//! A store serves one GET with one request handler, so a single GET is
//! bound by what that handler does per byte; ranges fetched side by side
//! let the store work on them at once (AWS's own advice for throughput, and
//! measured on SeaweedFS in BENCHMARKS.md). The first range, and any range
//! fetched when it is reached, streams straight through. A range fetched
//! ahead is queued until the reader is done with it and pays the budget for
//! its whole length meanwhile: a read holds at most `in_flight ×
//! range_bytes` ahead of its reader (the rest of the range being delivered
//! and the ranges after it), and all reads of a store together at most the
//! budget. A read that finds the budget spent when it reaches a range not
//! fetched ahead asks for all the rest in one GET.

use super::ByteStream;
use bytes::Bytes;
use futures::{StreamExt, future::BoxFuture};
use std::{collections::VecDeque, io, ops::Range, sync::Arc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::task::AbortOnDropHandle;

/// Fetches one range of the object being read.
pub type FetchRange = Arc<dyn Fn(Range<u64>) -> BoxFuture<'static, io::Result<ByteStream>> + Send + Sync>;

/// How a store splits its reads, and the read-ahead budget they share.
#[derive(Debug, Clone)]
pub struct RangedReads {
    range_bytes: u64,
    in_flight: usize,
    budget: Arc<Semaphore>,
}

impl RangedReads {
    /// `range_bytes` per GET, at most `in_flight` GETs per read, at most
    /// `budget_bytes` held ahead of their readers by all reads together.
    pub fn new(range_bytes: u64, in_flight: usize, budget_bytes: usize) -> Self {
        Self {
            range_bytes: range_bytes.clamp(1, u64::from(u32::MAX).min(Semaphore::MAX_PERMITS as u64)),
            in_flight: in_flight.max(1),
            budget: Arc::new(Semaphore::new(budget_bytes.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// The first GET of a read of `range`: all of it when one GET is all
    /// the read will make.
    pub fn first(&self, range: &Range<u64>) -> Range<u64> {
        if self.in_flight == 1 { range.clone() } else { range.start..range.end.min(range.start + self.range_bytes) }
    }

    /// Budget not held by any read right now.
    #[cfg(test)]
    fn budget_available(&self) -> usize {
        self.budget.available_permits()
    }

    /// The bytes of `range`: `first` is the body of a GET of `head`, the
    /// start of `range` (usually [`Self::first`]), the rest come from
    /// `fetch`. Every range must yield exactly its length, or the read ends
    /// with an error.
    pub fn read(&self, range: Range<u64>, head: Range<u64>, first: ByteStream, fetch: FetchRange) -> ByteStream {
        assert!(head.start == range.start && head.end <= range.end, "{head:?} does not start {range:?}");
        let read = Read {
            current: Current::Streaming(first),
            remaining: head.end - head.start,
            ahead: VecDeque::new(),
            pending: head.end..range.end,
            reads: self.clone(),
            fetch,
            finished: false,
        };
        Box::pin(futures::stream::unfold(read, |mut read| async move { read.next().await.map(|item| (item, read)) }))
    }
}

/// A range fetched ahead: its bytes wait in the channel, which its permit
/// pays for; dropping it stops the fetch.
struct Ahead {
    range: Range<u64>,
    chunks: mpsc::UnboundedReceiver<io::Result<Bytes>>,
    _permit: OwnedSemaphorePermit,
    _task: AbortOnDropHandle<()>,
}

enum Current {
    Streaming(ByteStream),
    Ahead(Ahead),
}

struct Read {
    current: Current,
    /// Bytes the current range still owes.
    remaining: u64,
    ahead: VecDeque<Ahead>,
    /// Bytes not asked for yet, all after those in `ahead`.
    pending: Range<u64>,
    reads: RangedReads,
    fetch: FetchRange,
    finished: bool,
}

impl Read {
    async fn next(&mut self) -> Option<io::Result<Bytes>> {
        if self.finished {
            return None;
        }
        let item = self.next_chunk().await;
        self.finished = !matches!(item, Some(Ok(_)));
        item
    }

    async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            self.fetch_ahead();
            let chunk = match &mut self.current {
                Current::Streaming(stream) => stream.next().await,
                Current::Ahead(ahead) => ahead.chunks.recv().await,
            };
            match chunk {
                Some(Ok(chunk)) if chunk.len() as u64 > self.remaining => {
                    return Some(Err(io::Error::other("the store sent more bytes than the range asked for")));
                }
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    self.remaining -= chunk.len() as u64;
                    return Some(Ok(chunk));
                }
                Some(Err(error)) => return Some(Err(error)),
                None if self.remaining > 0 => {
                    return Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the store's response ended {} bytes short", self.remaining),
                    )));
                }
                None => {
                    let (next, remaining) = if let Some(ahead) = self.ahead.pop_front() {
                        let len = ahead.range.end - ahead.range.start;
                        (Current::Ahead(ahead), len)
                    } else if !self.pending.is_empty() {
                        // No budget to fetch ahead: one GET for all the
                        // rest, rather than a round trip per range.
                        let range = self.pending.clone();
                        self.pending.start = self.pending.end;
                        match (self.fetch)(range.clone()).await {
                            Ok(stream) => (Current::Streaming(stream), range.end - range.start),
                            Err(error) => return Some(Err(error)),
                        }
                    } else {
                        return None;
                    };
                    self.current = next;
                    self.remaining = remaining;
                }
            }
        }
    }

    /// Starts the next ranges while the read has room and the budget allows.
    fn fetch_ahead(&mut self) {
        while self.ahead.len() + 1 < self.reads.in_flight && !self.pending.is_empty() {
            let end = self.pending.end.min(self.pending.start + self.reads.range_bytes);
            let len = (end - self.pending.start) as u32;
            let Ok(permit) = self.reads.budget.clone().try_acquire_many_owned(len) else { return };
            let range = self.pending.start..end;
            self.pending.start = end;
            let (sender, chunks) = mpsc::unbounded_channel();
            let fetch = (self.fetch)(range.clone());
            let task = tokio::spawn(async move {
                match fetch.await {
                    Ok(mut stream) => {
                        // Past its length a range stops: the reader reports
                        // the chunk too many, and holds no more than it paid for.
                        let mut owed = u64::from(len);
                        while let Some(chunk) = stream.next().await {
                            let stop = match &chunk {
                                Ok(chunk) if chunk.len() as u64 <= owed => {
                                    owed -= chunk.len() as u64;
                                    false
                                }
                                _ => true,
                            };
                            if sender.send(chunk).is_err() || stop {
                                return;
                            }
                        }
                    }
                    Err(error) => drop(sender.send(Err(error))),
                }
            });
            self.ahead.push_back(Ahead { range, chunks, _permit: permit, _task: AbortOnDropHandle::new(task) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::sync::Mutex;

    /// An object of `len` bytes whose GETs answer in chunks of `chunk`
    /// bytes, logging each range asked for.
    struct Fake {
        data: Bytes,
        chunk: usize,
        log: Arc<Mutex<Vec<Range<u64>>>>,
    }

    impl Fake {
        fn new(len: usize, chunk: usize) -> Self {
            let data = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            Self { data, chunk, log: Arc::default() }
        }

        fn body(&self, range: Range<u64>) -> ByteStream {
            let bytes = self.data.slice(range.start as usize..range.end as usize);
            let chunk = self.chunk;
            let pieces: Vec<io::Result<Bytes>> =
                (0..bytes.len()).step_by(chunk).map(|at| Ok(bytes.slice(at..bytes.len().min(at + chunk)))).collect();
            Box::pin(futures::stream::iter(pieces).then(|piece| async {
                tokio::task::yield_now().await;
                piece
            }))
        }

        /// A fetch whose GETs answer through `answer`.
        fn fetch(self: &Arc<Self>, answer: fn(&Fake, Range<u64>) -> io::Result<ByteStream>) -> FetchRange {
            let fake = self.clone();
            Arc::new(move |range: Range<u64>| {
                fake.log.lock().unwrap().push(range.clone());
                let answer = answer(&fake, range);
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    answer
                })
            })
        }

        fn read(self: &Arc<Self>, reads: &RangedReads, range: Range<u64>) -> ByteStream {
            let head = reads.first(&range);
            reads.read(range, head.clone(), self.body(head), self.fetch(|fake, range| Ok(fake.body(range))))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_byte_arrives_in_order() {
        let fake = Arc::new(Fake::new(10_000, 333));
        for (range_bytes, in_flight, budget) in [(1000, 2, 1 << 20), (999, 4, 1 << 20), (64, 3, 100), (4096, 1, 0)] {
            let reads = RangedReads::new(range_bytes, in_flight, budget);
            for range in [0..10_000, 1..9_999, 500..1500, 0..1, 9_000..10_000, 5..5] {
                let got: Vec<Bytes> = fake.read(&reads, range.clone()).try_collect().await.expect("the read succeeds");
                assert_eq!(got.concat(), fake.data[range.start as usize..range.end as usize], "{range:?}");
                assert_eq!(reads.budget_available(), budget, "all the read-ahead is given back");
            }
        }
    }

    async fn wait_for(what: &str, done: impl Fn() -> bool) {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while !done() {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{what}"));
    }

    #[tokio::test]
    async fn ranges_are_fetched_ahead_within_the_read_and_the_budget() {
        let fake = Arc::new(Fake::new(10_000, 100));
        let reads = RangedReads::new(1000, 3, 2000);
        let mut read = fake.read(&reads, 0..10_000);
        read.next().await.expect("a chunk").expect("no error");
        let log = fake.log.clone();
        wait_for("the next two ranges are fetched", || log.lock().unwrap().len() == 2).await;
        assert_eq!(*fake.log.lock().unwrap(), [1000..2000, 2000..3000]);
        assert_eq!(reads.budget_available(), 0, "two ranges of 1000 bytes are held ahead");

        // Another read finds the budget spent: after its first range it
        // asks for all the rest at once.
        let other = Arc::new(Fake::new(3500, 100));
        let bytes: Vec<Bytes> = other.read(&reads, 0..3500).try_collect().await.expect("the read succeeds");
        assert_eq!(bytes.concat(), other.data);
        assert_eq!(*other.log.lock().unwrap(), vec![Range { start: 1000, end: 3500 }]);

        drop(read);
        assert_eq!(reads.budget_available(), 2000, "a dropped read gives its budget back");
    }

    #[tokio::test]
    async fn a_dropped_read_stops_its_fetches() {
        let fake = Arc::new(Fake::new(10_000, 10));
        let reads = RangedReads::new(1000, 2, 1 << 20);
        let range = 0..10_000;
        let head = reads.first(&range);
        let first = fake.body(head.clone());
        let polled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = polled.clone();
        let fetch: FetchRange = Arc::new(move |_| {
            let counter = counter.clone();
            Box::pin(async move {
                let endless = futures::stream::repeat_with(move || {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok(Bytes::from_static(b"x"))
                })
                .then(|chunk| async {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    chunk
                });
                Ok(Box::pin(endless) as ByteStream)
            })
        });
        let mut read = reads.read(range, head, first, fetch);
        read.next().await.expect("a chunk").expect("no error");
        wait_for("the range ahead is being fetched", || polled.load(std::sync::atomic::Ordering::Relaxed) > 0).await;
        drop(read);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let stopped = polled.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(polled.load(std::sync::atomic::Ordering::Relaxed), stopped, "no chunk is fetched after the drop");
    }

    async fn outcome(fake: &Arc<Fake>, answer: fn(&Fake, Range<u64>) -> io::Result<ByteStream>) -> (usize, io::Error) {
        let reads = RangedReads::new(1000, 2, 1 << 20);
        let mut read = reads.read(0..4000, 0..1000, fake.body(0..1000), fake.fetch(answer));
        let mut delivered = 0;
        loop {
            match read.next().await.expect("the read ends with an error, not silently") {
                Ok(chunk) => delivered += chunk.len(),
                Err(error) => {
                    assert!(read.next().await.is_none(), "nothing follows an error");
                    return (delivered, error);
                }
            }
        }
    }

    #[tokio::test]
    async fn a_failed_range_ends_the_read_after_the_bytes_before_it() {
        let fake = Arc::new(Fake::new(4000, 100));
        let (delivered, error) = outcome(&fake, |fake, range| {
            if range.start == 2000 { Err(io::Error::other("the store is down")) } else { Ok(fake.body(range)) }
        })
        .await;
        assert_eq!((delivered, error.to_string().as_str()), (2000, "the store is down"));

        let (delivered, error) = outcome(&fake, |fake, range| Ok(fake.body(range.start..range.end - 1))).await;
        assert_eq!(delivered, 1999, "the first range, then the short one");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof, "{error}");

        // A read that one GET covers is held to its length too.
        let reads = RangedReads::new(1000, 1, 0);
        let mut short = reads.read(0..1000, 0..1000, fake.body(0..999), fake.fetch(|_, _| unreachable!()));
        let got: Vec<io::Result<Bytes>> = (&mut short).collect().await;
        let error = got.last().expect("an outcome").as_ref().expect_err("the short body is an error");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof, "{error}");

        let long = Arc::new(Fake::new(5000, 100));
        let (delivered, error) = outcome(&long, |fake, range| Ok(fake.body(range.start..range.end + 1))).await;
        assert_eq!(delivered, 2000, "the first range and the long one up to its length");
        assert!(error.to_string().contains("more bytes"), "{error}");
    }
}
