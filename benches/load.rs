//! A closed-loop load generator for unary gRPC calls: `callers` tasks spread
//! over several HTTP/2 connections, each sending its next call as soon as the
//! last one answered, until the round's request or time budget is spent.

use hdrhistogram::Histogram;
use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tonic::transport::Channel;

/// Latencies are recorded in microseconds, up to a minute.
const LONGEST_MICROS: u64 = 60_000_000;

/// When a round stops: whichever of the two comes first.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub requests: u64,
    pub time: Duration,
}

/// What one round measured.
pub struct Round {
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

impl Round {
    pub fn calls_per_second(&self) -> f64 {
        self.latency.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn quantile(&self, quantile: f64) -> Duration {
        Duration::from_micros(self.latency.value_at_quantile(quantile))
    }
}

/// Medians over rounds of each round's rate and quantiles.
#[derive(Clone, Copy, Debug)]
pub struct Figures {
    pub calls_per_second: f64,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
}

impl Figures {
    pub fn median_of(rounds: &[Round]) -> Self {
        Self {
            calls_per_second: median(rounds.iter().map(Round::calls_per_second).collect()),
            p50: median(rounds.iter().map(|round| round.quantile(0.50)).collect()),
            p95: median(rounds.iter().map(|round| round.quantile(0.95)).collect()),
            p99: median(rounds.iter().map(|round| round.quantile(0.99)).collect()),
        }
    }
}

pub fn median<T: PartialOrd + Copy>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    values[values.len() / 2]
}

/// How many connections `callers` callers share: eight streams on each, as a
/// pool of clients would, and one for a single caller.
pub fn connections_for(callers: usize) -> usize {
    callers.div_ceil(8)
}

/// `count` connections to `url`, each its own HTTP/2 connection.
pub async fn connect(url: &str, count: usize) -> Vec<Channel> {
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        channels.push(archive::client::connect(url).await.expect("archived answers"));
    }
    channels
}

/// Runs `call` from `callers` tasks over `channels` until `budget` is spent.
/// `call` gets a connection and the call's number (to pick its request); a
/// failed call ends the bench, since its latency would mean nothing.
pub async fn run<F, Fut>(channels: &[Channel], callers: usize, budget: Budget, call: F) -> Round
where
    F: Fn(Channel, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), tonic::Status>> + Send,
{
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + budget.time;
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..callers {
        let (channel, issued, call) = (channels[caller % channels.len()].clone(), issued.clone(), call.clone());
        tasks.spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, LONGEST_MICROS, 3).expect("histogram bounds");
            loop {
                let number = issued.fetch_add(1, Ordering::Relaxed);
                if number >= budget.requests || Instant::now() >= deadline {
                    return latency;
                }
                let sent = Instant::now();
                if let Err(status) = call(channel.clone(), number).await {
                    panic!("call {number} failed: {status:?}");
                }
                latency.saturating_record(sent.elapsed().as_micros() as u64);
            }
        });
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, LONGEST_MICROS, 3).expect("histogram bounds");
    while let Some(caller) = tasks.join_next().await {
        latency.add(caller.expect("caller task")).expect("same bounds");
    }
    Round { elapsed: started.elapsed(), latency }
}
