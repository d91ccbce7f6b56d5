//! When each request should leave: the three replay modes and the intended send time of every
//! request, as an offset from the start of the run.
//!
//! Offsets are absolute (start + offset), never "sleep N between requests": a late wake-up
//! does not push every later request back, and latency can be measured from the intended time.
//! With `--speedup F` the offset of a line stamped `t` is `(t - t0) / F`, except that the `n`
//! requests sharing one log second (timestamps have one-second resolution) are spread evenly
//! over that second, at `t + k/n`, instead of leaving as one burst.

use std::collections::VecDeque;
use std::time::Duration;

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Closed loop: each connection sends its next request when the previous answer arrived.
    /// Latency is service time only, and a slow server gets fewer requests (coordinated
    /// omission): this mode measures capacity, not latency under a given load.
    Closed,
    /// Open loop at a fixed rate (requests per second), in log order, ignoring timestamps.
    Rate(f64),
    /// Open loop at the recorded timing divided by this factor.
    Speedup(f64),
}

impl Mode {
    /// Short name for reports: `closed`, `rate` or `speedup`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Closed => "closed",
            Mode::Rate(_) => "rate",
            Mode::Speedup(_) => "speedup",
        }
    }

    /// Whether requests have an intended send time.
    pub fn is_open(self) -> bool {
        !matches!(self, Mode::Closed)
    }
}

/// Most requests of one log second held back to spread them; past this (an extreme log),
/// the rest of that second leaves at the end of the second and is counted as unspread.
pub const GROUP_CAP: usize = 100_000;

/// A request with its intended send time (`None` in closed loop).
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled<T> {
    /// Offset from the start of the run.
    pub offset: Option<Duration>,
    /// The request.
    pub item: T,
}

/// Turns requests, in log order, into scheduled requests.
#[derive(Debug)]
pub struct Pacer<T> {
    mode: Mode,
    first: Option<i64>,
    group_time: i64,
    group: Vec<T>,
    group_flushed: bool,
    count: u64,
    out_of_order: u64,
    unspread: u64,
}

impl<T> Pacer<T> {
    /// A pacer for `mode` (rates and factors are validated by the caller: finite and > 0).
    pub fn new(mode: Mode) -> Self {
        Pacer {
            mode,
            first: None,
            group_time: i64::MIN,
            group: Vec::new(),
            group_flushed: false,
            count: 0,
            out_of_order: 0,
            unspread: 0,
        }
    }

    /// Takes the next request (log time in Unix seconds) and appends to `out` every request
    /// whose intended time is now known. In speed-up mode a second's requests are released
    /// once the next second starts (or at [`finish`](Self::finish)).
    pub fn push(&mut self, time: i64, item: T, out: &mut VecDeque<Scheduled<T>>) {
        self.count += 1;
        match self.mode {
            Mode::Closed => out.push_back(Scheduled { offset: None, item }),
            Mode::Rate(rate) => {
                let offset = Duration::from_secs_f64((self.count - 1) as f64 / rate);
                out.push_back(Scheduled {
                    offset: Some(offset),
                    item,
                });
            }
            Mode::Speedup(factor) => {
                let first = *self.first.get_or_insert(time);
                if time > self.group_time {
                    self.flush(out);
                    self.group_time = time;
                    self.group_flushed = false;
                } else if time < self.group_time {
                    // Servers stamp the request start but write at the end, so slow requests
                    // appear slightly out of order: replay them within the current second.
                    self.out_of_order += 1;
                }
                if self.group_flushed {
                    self.unspread += 1;
                    let end = (self.group_time - first + 1) as f64 / factor;
                    out.push_back(Scheduled {
                        offset: Some(Duration::from_secs_f64(end)),
                        item,
                    });
                    return;
                }
                self.group.push(item);
                if self.group.len() == GROUP_CAP {
                    self.flush(out);
                    self.group_flushed = true;
                }
            }
        }
    }

    /// Releases the requests still held back.
    pub fn finish(&mut self, out: &mut VecDeque<Scheduled<T>>) {
        self.flush(out);
    }

    fn flush(&mut self, out: &mut VecDeque<Scheduled<T>>) {
        let (Mode::Speedup(factor), Some(first)) = (self.mode, self.first) else {
            return;
        };
        if self.group.is_empty() {
            return;
        }
        let n = self.group.len() as f64;
        let base = (self.group_time - first) as f64;
        for (k, item) in self.group.drain(..).enumerate() {
            let offset = Duration::from_secs_f64((base + k as f64 / n) / factor);
            out.push_back(Scheduled {
                offset: Some(offset),
                item,
            });
        }
    }

    /// Requests whose log time went backwards (replayed in the current log second).
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    /// Requests past [`GROUP_CAP`] in one log second, sent at the end of that second.
    pub fn unspread(&self) -> u64 {
        self.unspread
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(mode: Mode, times: &[i64]) -> (Vec<Option<f64>>, Pacer<usize>) {
        let mut p = Pacer::new(mode);
        let mut out = VecDeque::new();
        for (i, &t) in times.iter().enumerate() {
            p.push(t, i, &mut out);
        }
        p.finish(&mut out);
        let items: Vec<usize> = out.iter().map(|s| s.item).collect();
        assert_eq!(
            items,
            (0..times.len()).collect::<Vec<_>>(),
            "log order is kept"
        );
        let o = out
            .iter()
            .map(|s| s.offset.map(|d| d.as_secs_f64()))
            .collect();
        (o, p)
    }

    fn close(a: &[Option<f64>], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x.unwrap() - y).abs() < 1e-9)
    }

    #[test]
    fn closed_loop_has_no_intended_time() {
        let (o, _) = offsets(Mode::Closed, &[5, 1, 9]);
        assert_eq!(o, [None, None, None]);
    }

    #[test]
    fn fixed_rate_ignores_timestamps() {
        let (o, _) = offsets(Mode::Rate(4.0), &[100, 100, 50, 900]);
        assert!(close(&o, &[0.0, 0.25, 0.5, 0.75]), "{o:?}");
    }

    #[test]
    fn speedup_spreads_each_second_evenly() {
        let t0 = 1_760_000_000;
        let (o, p) = offsets(Mode::Speedup(2.0), &[t0, t0, t0, t0 + 1, t0 + 3, t0 + 3]);
        let want = [0.0, 1.0 / 6.0, 2.0 / 6.0, 0.5, 1.5, 1.75];
        assert!(close(&o, &want), "{o:?}");
        assert_eq!((p.out_of_order(), p.unspread()), (0, 0));
    }

    #[test]
    fn a_busy_second_is_never_a_burst() {
        let (o, _) = offsets(Mode::Speedup(1.0), &[7; 10]);
        let gaps: Vec<f64> = o
            .windows(2)
            .map(|w| w[1].unwrap() - w[0].unwrap())
            .collect();
        assert!(gaps.iter().all(|g| (g - 0.1).abs() < 1e-9), "{gaps:?}");
    }

    #[test]
    fn out_of_order_lines_join_the_current_second() {
        let (o, p) = offsets(Mode::Speedup(1.0), &[10, 11, 10, 12]);
        assert!(close(&o, &[0.0, 1.0, 1.5, 2.0]), "{o:?}");
        assert_eq!(p.out_of_order(), 1);
    }

    #[test]
    fn a_second_past_the_cap_is_counted() {
        let mut times = vec![0; GROUP_CAP + 3];
        times.push(1);
        let (o, p) = offsets(Mode::Speedup(1.0), &times);
        assert_eq!(p.unspread(), 3);
        assert!(o.windows(2).all(|w| w[0] <= w[1]), "offsets never go back");
    }
}
