//! A generated site's opening hours: the week by the trade's pattern, notes, and closures.

use vitrine::export::record::{Closure, Day, Hours, Period};

use super::bank::Kind;
use super::text::hhmm;
use super::Site;

impl Site {
    pub(super) fn hours(&mut self) -> Hours {
        let kind = self.act.kind;
        // Minutes after midnight, jittered by quarter hours.
        let q = |s: &mut Site, base: u32, quarters: u64| base + 15 * s.below(quarters + 1) as u32;
        let open = |periods: &[(u32, u32)]| -> Day {
            Day::Open(
                periods
                    .iter()
                    .map(|&(a, b)| Period {
                        from: hhmm(a),
                        to: hhmm(b),
                    })
                    .collect(),
            )
        };
        let closed = || Day::Closed;
        let mut days: [Day; 7] = std::array::from_fn(|_| Day::Closed);
        let note;
        match kind {
            Kind::FoodShop => {
                let (o, m, a, c) = (
                    q(self, 390, 4),
                    q(self, 780, 2),
                    q(self, 930, 2),
                    q(self, 1140, 2),
                );
                let lunch = self.chance(0.7);
                let week = if lunch {
                    open(&[(o, m), (a, c)])
                } else {
                    open(&[(o, c)])
                };
                let off = *self.weighted(&[(0usize, 60), (2, 20), (1, 20)]);
                for (i, d) in days.iter_mut().enumerate().take(6) {
                    *d = if i == off { closed() } else { week.clone() };
                }
                if self.chance(0.5) {
                    days[5] = open(&[(o, c)]);
                }
                days[6] = if self.chance(0.7) {
                    open(&[(o, 780)])
                } else {
                    closed()
                };
                note = None;
            }
            Kind::Shop => {
                let o = q(self, 570, 2);
                let c = q(self, 1140, 2);
                let week = if self.chance(0.6) {
                    open(&[(o, 750), (q(self, 840, 2), c)])
                } else {
                    open(&[(o, c)])
                };
                for d in days.iter_mut().take(6) {
                    *d = week.clone();
                }
                days[0] = if self.chance(0.6) {
                    closed()
                } else {
                    open(&[(840, c)])
                };
                note = None;
            }
            Kind::Office | Kind::Medical => {
                let medical = kind == Kind::Medical;
                let o = q(self, if medical { 480 } else { 510 }, 2);
                let m = q(self, 720, 2);
                let a = q(self, 810, 2);
                let c = q(self, if medical { 1110 } else { 1050 }, 2);
                for d in days.iter_mut().take(5) {
                    *d = open(&[(o, m), (a, c)]);
                }
                if self.chance(0.3) {
                    days[4] = open(&[(o, m), (a, 1020)]);
                }
                if medical && self.chance(0.3) {
                    days[2] = open(&[(o, m)]);
                }
                if self.chance(if medical { 0.4 } else { 0.15 }) {
                    days[5] = open(&[(q(self, 510, 2), 750)]);
                }
                note = self
                    .chance(0.5)
                    .then(|| self.pick(&self.w.note_appointment).to_owned());
            }
            Kind::Trade | Kind::Garage => {
                let o = q(self, 450, 2);
                let c = q(self, 1050, 4);
                for d in days.iter_mut().take(5) {
                    *d = open(&[(o, 720), (q(self, 780, 2), c)]);
                }
                if self.chance(if kind == Kind::Garage { 0.6 } else { 0.3 }) {
                    days[5] = open(&[(q(self, 480, 2), 720)]);
                }
                note = (kind == Kind::Trade && self.chance(0.5))
                    .then(|| self.pick(&self.w.note_emergency).to_owned());
            }
            Kind::Restaurant => {
                let lunch = (720, q(self, 840, 2));
                let dinner_end = if self.chance(0.05) {
                    1440
                } else {
                    q(self, 1320, 4)
                };
                let dinner = (q(self, 1140, 2), dinner_end);
                for d in days.iter_mut() {
                    *d = open(&[lunch, dinner]);
                }
                days[0] = closed();
                if self.chance(0.3) {
                    days[1] = closed();
                }
                if self.chance(0.6) {
                    days[6] = open(&[lunch]);
                }
                note = self
                    .chance(0.4)
                    .then(|| self.pick(&self.w.note_booking).to_owned());
            }
            Kind::Cafe => {
                let o = q(self, 450, 2);
                let c = q(self, 1080, 4);
                for d in days.iter_mut() {
                    *d = open(&[(o, c)]);
                }
                days[0] = closed();
                days[6] = if self.chance(0.5) {
                    open(&[(540, 780)])
                } else {
                    closed()
                };
                note = None;
            }
            Kind::Salon => {
                let o = q(self, 540, 2);
                let c = q(self, 1140, 2);
                let lunch = self.chance(0.3);
                for d in days.iter_mut().take(5).skip(1) {
                    *d = if lunch {
                        open(&[(o, 720), (840, c)])
                    } else {
                        open(&[(o, c)])
                    };
                }
                if self.chance(0.4) {
                    days[3] = open(&[(o, q(self, 1200, 4))]);
                }
                days[5] = open(&[(q(self, 510, 2), q(self, 1020, 4))]);
                note = self
                    .chance(0.4)
                    .then(|| self.pick(&self.w.note_booking).to_owned());
            }
            Kind::Lodging => {
                for d in days.iter_mut() {
                    *d = open(&[(480, 720), (1020, q(self, 1260, 4))]);
                }
                note = None;
            }
        }
        let [monday, tuesday, wednesday, thursday, friday, saturday, sunday] = days;
        Hours {
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
            note,
            closures: self.closures(),
        }
    }

    fn closures(&mut self) -> Vec<Closure> {
        let count = *self.weighted(&[(0usize, 45), (1, 30), (2, 18), (3, 7)]);
        let mut out: Vec<Closure> = Vec::new();
        for _ in 0..count {
            let c = match self.below(4) {
                0 => {
                    let start = 1 + self.below(15);
                    let end = start + 6 + self.below(11);
                    Closure {
                        from: format!("2026-08-{start:02}"),
                        to: Some(format!("2026-08-{end:02}")),
                        reason: self.pick(&self.w.leave).to_owned(),
                    }
                }
                1 => Closure {
                    from: format!("2026-12-{}", 24 + self.below(2)),
                    to: Some(format!("2027-01-0{}", 1 + self.below(3))),
                    reason: self.w.christmas.to_owned(),
                },
                2 => {
                    let (date, reason) = self.pick(&self.w.holidays);
                    Closure {
                        from: date.to_owned(),
                        to: None,
                        reason: reason.to_owned(),
                    }
                }
                _ => {
                    let month = 1 + self.below(3);
                    let day = 1 + self.below(20);
                    let len = self.below(5);
                    Closure {
                        from: format!("2027-{month:02}-{day:02}"),
                        to: (len > 0).then(|| format!("2027-{month:02}-{:02}", day + len)),
                        reason: self.pick(&self.w.other_closures).to_owned(),
                    }
                }
            };
            if !out.iter().any(|o| o.from == c.from) {
                out.push(c);
            }
        }
        out.sort_by(|a, b| a.from.cmp(&b.from));
        out
    }
}
