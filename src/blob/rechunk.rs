//! Bounding the chunks of a byte stream: the chunks a backend yields
//! (whatever its HTTP client read) become the messages ReadMedia sends and
//! the gateway's body frames, none larger than the configured size.

use super::ByteStream;
use bytes::Bytes;
use futures::StreamExt;

/// Chunks of at most `size` bytes: larger ones are split without copying,
/// smaller ones pass as they are. Joining small ones would copy every byte
/// once more; measured, passing them on costs less CPU and moves more
/// MiB/s (BENCHMARKS.md, media). Empty chunks are dropped; an error ends
/// the stream.
pub fn rechunk(stream: ByteStream, size: usize) -> ByteStream {
    let size = size.max(1);
    Box::pin(
        stream
            .flat_map(move |item| {
                let pieces: Vec<std::io::Result<Bytes>> = match item {
                    Ok(mut chunk) => {
                        let mut pieces = Vec::with_capacity(chunk.len().div_ceil(size));
                        while !chunk.is_empty() {
                            pieces.push(Ok(chunk.split_to(size.min(chunk.len()))));
                        }
                        pieces
                    }
                    Err(error) => vec![Err(error)],
                };
                futures::stream::iter(pieces)
            })
            // An error ends the stream.
            .scan(false, |failed, item| {
                let next = (!*failed).then_some(item);
                *failed |= next.as_ref().is_some_and(Result::is_err);
                std::future::ready(next)
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    async fn regroup(pieces: &[usize], size: usize) -> Vec<Bytes> {
        let mut next = 0u8;
        let chunks: Vec<std::io::Result<Bytes>> = pieces
            .iter()
            .map(|&len| {
                Ok(Bytes::from_iter((0..len).map(|_| {
                    next = next.wrapping_add(1);
                    next
                })))
            })
            .collect();
        rechunk(Box::pin(futures::stream::iter(chunks)), size).try_collect().await.expect("no error")
    }

    #[tokio::test]
    async fn chunks_are_split_to_the_size_and_no_byte_moves() {
        for pieces in [vec![], vec![0], vec![1], vec![10], vec![3, 3, 3, 3], vec![25, 1, 0, 7], vec![1; 40]] {
            let total: usize = pieces.iter().sum();
            let out = regroup(&pieces, 10).await;
            let lengths: Vec<usize> = out.iter().map(Bytes::len).collect();
            let expected: Vec<usize> =
                pieces.iter().flat_map(|&len| (0..len).step_by(10).map(move |start| (len - start).min(10))).collect();
            assert_eq!(lengths, expected, "pieces {pieces:?}");
            let joined: Vec<u8> = out.concat();
            let source: Vec<u8> = (1..=total).map(|i| i as u8).collect();
            assert_eq!(joined, source, "pieces {pieces:?}");
        }
    }

    #[tokio::test]
    async fn an_error_ends_the_stream() {
        let chunks =
            vec![Ok(Bytes::from_static(b"abc")), Err(std::io::Error::other("gone")), Ok(Bytes::from_static(b"d"))];
        let mut out = rechunk(Box::pin(futures::stream::iter(chunks)), 2);
        assert_eq!(out.next().await.unwrap().unwrap(), Bytes::from_static(b"ab"));
        assert_eq!(out.next().await.unwrap().unwrap(), Bytes::from_static(b"c"));
        assert!(out.next().await.unwrap().is_err());
        assert!(out.next().await.is_none());
    }
}
