//! Regrouping a byte stream into chunks of one size: the chunks a backend
//! yields (whatever its HTTP client read) become the messages ReadMedia
//! sends.

use super::ByteStream;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

struct State {
    stream: ByteStream,
    pending: BytesMut,
    /// The unsent rest of the last chunk read.
    carry: Bytes,
    done: bool,
}

/// Chunks of exactly `size` bytes but the last: small chunks are joined,
/// large ones are split without copying. An error ends the stream.
pub fn rechunk(stream: ByteStream, size: usize) -> ByteStream {
    let size = size.max(1);
    let state = State { stream, pending: BytesMut::new(), carry: Bytes::new(), done: false };
    Box::pin(futures::stream::unfold(state, move |mut state| async move {
        loop {
            if !state.carry.is_empty() {
                if state.pending.is_empty() && state.carry.len() >= size {
                    return Some((Ok(state.carry.split_to(size)), state));
                }
                let take = (size - state.pending.len()).min(state.carry.len());
                state.pending.extend_from_slice(&state.carry.split_to(take));
                if state.pending.len() == size {
                    return Some((Ok(state.pending.split().freeze()), state));
                }
                continue;
            }
            if state.done {
                return (!state.pending.is_empty()).then(|| (Ok(state.pending.split().freeze()), state));
            }
            match state.stream.next().await {
                Some(Ok(chunk)) => state.carry = chunk,
                Some(Err(error)) => {
                    state.done = true;
                    state.pending.clear();
                    return Some((Err(error), state));
                }
                None => state.done = true,
            }
        }
    }))
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
    async fn every_chunk_but_the_last_has_the_size_and_no_byte_moves() {
        for pieces in [vec![], vec![0], vec![1], vec![10], vec![3, 3, 3, 3], vec![25, 1, 0, 7], vec![1; 40]] {
            let total: usize = pieces.iter().sum();
            let out = regroup(&pieces, 10).await;
            let lengths: Vec<usize> = out.iter().map(Bytes::len).collect();
            let expected: Vec<usize> = (0..total).step_by(10).map(|start| (total - start).min(10)).collect();
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
        assert!(out.next().await.unwrap().is_err());
        assert!(out.next().await.is_none());
    }
}
