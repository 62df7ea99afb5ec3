//! Paired timing for the overhead benchmarks: each pair times the in-process call and the call
//! through the local platform back to back, alternating which goes first, so the machine's noise
//! falls on both alike; reported: each side's median and p99 and the median of the paired
//! differences (the overhead), against the 1 ms goal.
use std::time::{Duration, Instant};

pub struct Paired {
    pub direct: Vec<Duration>,
    pub through: Vec<Duration>,
    pub overhead: Vec<Duration>,
}

async fn timed(f: impl AsyncFnOnce()) -> Duration {
    let start = Instant::now();
    f().await;
    start.elapsed()
}

/// `pairs` pairs of `direct(i)` and `through(i)`, each side's times sorted.
pub async fn run(pairs: usize, mut direct: impl AsyncFnMut(usize), mut through: impl AsyncFnMut(usize)) -> Paired {
    let mut p = Paired { direct: Vec::new(), through: Vec::new(), overhead: Vec::new() };
    for i in 0..pairs {
        let (d, t) = if i % 2 == 0 {
            let d = timed(async || direct(i).await).await;
            (d, timed(async || through(i).await).await)
        } else {
            let t = timed(async || through(i).await).await;
            (timed(async || direct(i).await).await, t)
        };
        p.direct.push(d);
        p.through.push(t);
        p.overhead.push(t.saturating_sub(d));
    }
    for v in [&mut p.direct, &mut p.through, &mut p.overhead] {
        v.sort();
    }
    p
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

impl Paired {
    /// The table: `what` (the batch), the two sides' names, the overhead, the goal.
    pub fn print(&self, what: &str, direct: &str, through: &str) {
        let row =
            |name: &str, v: &[Duration]| println!("| {name} | {:?} | {:?} |", quantile(v, 0.5), quantile(v, 0.99));
        println!("{what}, {} pairs\n\n| path | median | p99 |\n|---|---|---|", self.direct.len());
        row(direct, &self.direct);
        row(through, &self.through);
        row("overhead (paired difference)", &self.overhead);
        let median = quantile(&self.overhead, 0.5);
        println!(
            "\ngoal: overhead at most 1 ms; {}",
            if median <= Duration::from_millis(1) { "met" } else { "missed" }
        );
    }
}
