//! A generated site's pages: which pages it has, and the sections of each, assembled from
//! the trade's and the language's sentences, price lists and photos.

use vitrine::export::record::{
    Block, Decimal, Inline, Page, Photo, Price, Run, Section, Service, Video, VideoType,
};

use super::bank::{self, Group, Svc};
use super::text::{amount, marks};
use super::{PageKind, Site, PAGE_COUNTS};

impl Site {
    pub(super) fn pages(&mut self) -> Vec<Page> {
        let n = 2 + *self.weighted(&[
            (0usize, PAGE_COUNTS[0]),
            (1, PAGE_COUNTS[1]),
            (2, PAGE_COUNTS[2]),
            (3, PAGE_COUNTS[3]),
            (4, PAGE_COUNTS[4]),
            (5, PAGE_COUNTS[5]),
        ]);
        let photos = if self.chance(0.08) {
            0
        } else {
            // The smaller of two draws in 1..=12: few photos are common, 12 is rare.
            let a = 1 + self.below(12);
            let b = 1 + self.below(12);
            a.min(b)
        };
        let mut pool = vec![
            PageKind::About,
            PageKind::Team,
            PageKind::News,
            PageKind::Faq,
            PageKind::Contact,
        ];
        if photos >= 3 {
            pool.push(PageKind::Gallery);
        }
        let mut kinds = vec![PageKind::Home, PageKind::Prices];
        while kinds.len() < n && !pool.is_empty() {
            let i = self.below(pool.len() as u64) as usize;
            kinds.push(pool.swap_remove(i));
        }
        kinds.sort();
        for kind in &kinds {
            let (id, title) = match kind {
                PageKind::Home => self.w.home,
                PageKind::Prices => self.act.prices_page,
                PageKind::About => self.w.about,
                PageKind::Team => self.w.team,
                PageKind::Gallery => self.w.gallery,
                PageKind::News => self.w.news,
                PageKind::Faq => self.w.faq,
                PageKind::Contact => self.w.contact,
            };
            self.pages.push((*kind, id.to_owned(), title.to_owned()));
        }
        // Photos: one on the about page, most in the gallery page, the rest on the home page.
        let has = |k| kinds.contains(&k);
        let about_photo = u64::from(has(PageKind::About) && photos >= 2 && self.chance(0.6));
        let rest = photos - about_photo;
        let home_photos = if has(PageKind::Gallery) {
            self.below(3).min(rest - 1)
        } else {
            rest
        };
        let gallery_photos = rest - home_photos;
        let video = self.chance(0.04);

        let meta = self.pages.clone();
        meta.into_iter()
            .map(|(kind, id, title)| {
                let sections = match kind {
                    PageKind::Home => self.home(home_photos, video),
                    PageKind::Prices => self.prices(),
                    PageKind::About => self.about(about_photo == 1),
                    PageKind::Team => self.team(),
                    PageKind::Gallery => self.gallery(gallery_photos),
                    PageKind::News => self.news(),
                    PageKind::Faq => self.faq(),
                    PageKind::Contact => self.contact_page(),
                };
                let description = (kind != PageKind::Home && self.chance(0.5)).then(|| {
                    let d = self.pick(&self.w.descriptions);
                    self.fill_with(d, &[("title", &title)])
                });
                Page {
                    id,
                    title,
                    description,
                    sections,
                }
            })
            .collect()
    }

    /// Up to `k` sentences, each from `first` with probability `p` and from `second`
    /// otherwise, never one the site already said: a site that has said everything writes
    /// less rather than repeating itself. `None` when nothing is left at all.
    fn sentences(
        &mut self,
        k: u64,
        first: &'static [&'static str],
        p: f64,
        second: &'static [&'static str],
    ) -> Option<Inline> {
        let mut text = String::new();
        for _ in 0..k {
            let s = if self.chance(p) {
                self.unused(first).or_else(|| self.unused(second))
            } else {
                self.unused(second).or_else(|| self.unused(first))
            };
            let Some(s) = s else { break };
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&self.fill(s));
        }
        (!text.is_empty()).then(|| marks(&text))
    }

    /// A paragraph of up to `k` sentences, mostly of the trade.
    fn paragraph(&mut self, k: u64) -> Option<Inline> {
        self.sentences(k, &self.act.sentences, 0.55, &self.w.generic)
    }

    /// "See the prices page." with a link to another page of the site.
    fn see_page(&mut self, inline: &mut Inline, kind: PageKind) {
        if let Some((_, id, title)) = self.pages.iter().find(|p| p.0 == kind).cloned() {
            let (before, after) = self.pick(&self.w.see_page);
            inline.0.push(Run::Text(format!(" {before}")));
            inline.0.push(Run::Link {
                label: Inline::text(title.to_lowercase()),
                href: format!("/{id}"),
            });
            inline.0.push(Run::Text(after.to_owned()));
        }
    }

    fn photo(&mut self) -> Photo {
        let (stem, alt) = self.pick(&self.act.photos);
        let ext = *self.weighted(&[("jpg", 85), ("webp", 10), ("png", 5)]);
        let dir = if self.media.is_empty() {
            self.chance(0.3)
        } else {
            self.media[0].starts_with("photos/")
        };
        let mut k = 1;
        let src = loop {
            let suffix = if k == 1 {
                String::new()
            } else {
                format!("-{k}")
            };
            let dir = if dir { "photos/" } else { "" };
            let src = format!("{dir}{stem}{suffix}.{ext}");
            if !self.media.contains(&src) {
                break src;
            }
            k += 1;
        };
        self.media.push(src.clone());
        let (width, height) = if self.chance(0.1) {
            (None, None)
        } else {
            let (w, h) = self.pick(&[
                (800, 600),
                (1200, 800),
                (1024, 768),
                (600, 800),
                (1600, 1067),
            ]);
            (Some(w), Some(h))
        };
        Photo {
            src,
            alt: alt.to_owned(),
            width,
            height,
            caption: self.chance(0.5).then(|| alt.to_owned()),
        }
    }

    fn home(&mut self, photos: u64, video: bool) -> Vec<Section> {
        let mut sections = Vec::new();
        let title = self.pick(&self.w.welcome);
        let mut blocks = Vec::new();
        let paragraphs = self.scaled(1.8, 1, 7);
        for i in 0..paragraphs {
            let k = self.scaled(2.6, 2, 7);
            let Some(mut p) = self.paragraph(k) else {
                break;
            };
            if i + 1 == paragraphs && self.chance(0.5) {
                self.see_page(&mut p, PageKind::Prices);
            }
            blocks.push(Block::P(p));
        }
        if photos > 0 {
            let gallery = (0..photos).map(|_| self.photo()).collect();
            blocks.push(Block::Gallery(gallery));
        }
        sections.push(Section {
            title: self.chance(0.9).then(|| self.fill(title)),
            blocks,
        });
        if self.chance(0.65) {
            let title = self.pick(&self.w.strengths);
            let k = (3 + self.below(3)).min(self.act.highlights.len() as u64);
            let mut items = Vec::new();
            for _ in 0..k {
                let h = self.fresh(&self.act.highlights);
                items.push(marks(h));
            }
            sections.push(Section {
                title: Some(title.to_owned()),
                blocks: vec![Block::List(items)],
            });
        }
        if self.chance(0.4) {
            // A teaser of the price list, pointing to it.
            let title = self.pick(&self.w.offer);
            let names: Vec<&str> = self
                .act
                .groups
                .iter()
                .flat_map(|g| g.services.iter().map(|s| s.name))
                .collect();
            let k = self.scaled(3.0, 2, 8).min(names.len() as u64) as usize;
            // k distinct names (partial Fisher-Yates), then in price-list order.
            let mut order: Vec<usize> = (0..names.len()).collect();
            for i in 0..k {
                let j = i + self.below((names.len() - i) as u64) as usize;
                order.swap(i, j);
            }
            order.truncate(k);
            order.sort_unstable();
            order.dedup_by_key(|&mut i| names[i]);
            let items: Vec<Inline> = order.iter().map(|&i| Inline::text(names[i])).collect();
            let mut more = Inline::default();
            self.see_page(&mut more, PageKind::Prices);
            let mut blocks = vec![Block::List(items)];
            if let Some(Run::Text(t)) = more.0.first_mut() {
                *t = t.trim_start().to_owned();
                blocks.push(Block::P(more));
            }
            sections.push(Section {
                title: Some(title.to_owned()),
                blocks,
            });
        }
        if video {
            let caption = self.pick(&self.w.video_captions);
            sections.push(Section {
                title: Some(self.w.video.to_owned()),
                blocks: vec![Block::Video(Video {
                    src: "video/presentation.mp4".to_owned(),
                    mime: VideoType::Mp4,
                    poster: Some("video/presentation.jpg".to_owned()),
                    width: Some(1280),
                    height: Some(720),
                    caption: Some(self.fill(caption)),
                })],
            });
        }
        sections
    }

    fn prices(&mut self) -> Vec<Section> {
        let groups: &'static [Group] = &self.act.groups;
        let g = self.scaled(1.4, 1, groups.len() as u64) as usize;
        let first = self.below((groups.len() - g + 1) as u64) as usize;
        let mut sections = Vec::new();
        for group in &groups[first..first + g] {
            let mut blocks = Vec::new();
            if self.chance(0.35) {
                let k = 1 + self.below(2);
                blocks.extend(self.paragraph(k).map(Block::P));
            }
            let all = &group.services;
            let min = all.len().min(3) as u64;
            let k = min + self.below(all.len() as u64 - min + 1);
            // Keep `k` services, in list order.
            let mut keep: Vec<usize> = (0..all.len()).collect();
            while keep.len() as u64 > k {
                let i = self.below(keep.len() as u64) as usize;
                keep.remove(i);
            }
            let services = keep.iter().map(|&i| self.service(&all[i])).collect();
            blocks.push(Block::Services(services));
            sections.push(Section {
                title: Some(group.title.to_owned()),
                blocks,
            });
        }
        if self.chance(0.5) {
            let k = 1 + self.below(3);
            let mut text = String::new();
            for i in 0..k {
                let s = self.fresh(&self.w.practical);
                if i > 0 {
                    text.push(' ');
                }
                text.push_str(s);
            }
            sections.push(Section {
                title: Some(self.w.practical_title.to_owned()),
                blocks: vec![Block::P(marks(&text))],
            });
        }
        sections
    }

    fn service(&mut self, s: &Svc) -> Service {
        let price = if s.hi == 0.0 || self.chance(0.04) {
            Price {
                amount: None,
                currency: None,
                unit: None,
                from: false,
                on_request: true,
            }
        } else {
            let v = s.lo + self.u() * (s.hi - s.lo);
            Price {
                amount: Some(Decimal(amount(v))),
                currency: Some(if self.english { "GBP" } else { "EUR" }.to_owned()),
                unit: (!s.unit.is_empty()).then(|| s.unit.to_owned()),
                from: (self.act.builder || v >= 200.0) && self.chance(0.3),
                on_request: false,
            }
        };
        Service {
            name: s.name.to_owned(),
            description: (!s.desc.is_empty()).then(|| Inline::text(self.fill(s.desc))),
            price: Some(price),
        }
    }

    fn about(&mut self, photo: bool) -> Vec<Section> {
        let title = self.pick(&self.w.story);
        let mut blocks = Vec::new();
        let paragraphs = self.scaled(2.0, 1, 7);
        for _ in 0..paragraphs {
            let k = self.scaled(2.6, 2, 7);
            let history = &self.w.history;
            match self.sentences(k, history, 0.6, &self.w.generic) {
                Some(p) => blocks.push(Block::P(p)),
                None => break,
            }
        }
        if blocks.is_empty() {
            // Everything was said elsewhere already; a section needs a block.
            let s = self.pick(&self.w.history);
            blocks.push(Block::P(marks(&self.fill(s))));
        }
        if photo {
            blocks.push(Block::Photo(self.photo()));
        }
        let mut sections = vec![Section {
            title: Some(self.fill(title)),
            blocks,
        }];
        if self.chance(0.4) {
            let k = (3 + self.below(2)).min(self.act.highlights.len() as u64);
            let items = (0..k)
                .map(|_| marks(self.fresh(&self.act.highlights)))
                .collect();
            sections.push(Section {
                title: Some(self.w.values_title.to_owned()),
                blocks: vec![Block::List(items)],
            });
        }
        sections
    }

    fn team(&mut self) -> Vec<Section> {
        let intro = self.pick(&self.w.team_intro);
        let mut members = vec![Inline(vec![
            Run::Strong(Inline::text(format!("{} {}", self.first, self.surname))),
            Run::Text(format!(", {}", self.act.roles[0])),
        ])];
        let (firsts, surnames) = if self.english {
            (&bank::bank().first_en, &bank::bank().surnames_en)
        } else {
            (&bank::bank().first_fr, &bank::bank().surnames_fr)
        };
        for _ in 0..self.scaled(2.0, 1, 6) {
            let first = self.pick(firsts);
            let surname = self.pick(surnames);
            let role = self.pick(&self.act.roles);
            members.push(Inline(vec![
                Run::Strong(Inline::text(format!("{first} {surname}"))),
                Run::Text(format!(", {role}")),
            ]));
        }
        let mut blocks = vec![
            Block::P(Inline::text(self.fill(intro))),
            Block::List(members),
        ];
        if self.chance(0.5) {
            let k = 1 + self.below(3);
            blocks.extend(self.paragraph(k).map(Block::P));
        }
        vec![Section {
            title: None,
            blocks,
        }]
    }

    fn gallery(&mut self, photos: u64) -> Vec<Section> {
        let title = self.pick(&self.w.gallery_titles);
        let mut blocks = Vec::new();
        if self.chance(0.5) {
            blocks.extend(self.paragraph(1).map(Block::P));
        }
        blocks.push(Block::Gallery(
            (0..photos.max(1)).map(|_| self.photo()).collect(),
        ));
        vec![Section {
            title: Some(title.to_owned()),
            blocks,
        }]
    }

    fn news(&mut self) -> Vec<Section> {
        const MONTHS_FR: [&str; 6] = ["Janvier", "Février", "Mars", "Avril", "Mai", "Juin"];
        const MONTHS_EN: [&str; 6] = ["January", "February", "March", "April", "May", "June"];
        let k = self.scaled(2.2, 1, 6) as usize;
        let mut sections = Vec::new();
        let mut months: Vec<usize> = (0..6).collect();
        let items = &self.w.news_items;
        let start = self.below(items.len() as u64) as usize;
        for i in 0..k.min(items.len()) {
            let (title, text) = items[(start + i) % items.len()];
            let m = months.remove(self.below(months.len() as u64) as usize);
            let month = if self.english {
                MONTHS_EN[m]
            } else {
                MONTHS_FR[m]
            };
            let sep = if self.english { ": " } else { " : " };
            let mut body = self.fill(text);
            if self.chance(0.4) {
                body.push(' ');
                let s = self.fresh(&self.w.generic);
                body.push_str(&self.fill(s));
            }
            sections.push(Section {
                title: Some(format!("{month} 2026{sep}{title}")),
                blocks: vec![Block::P(marks(&body))],
            });
        }
        sections
    }

    fn faq(&mut self) -> Vec<Section> {
        let mut qa: Vec<(&str, &str)> = self.act.faq.to_vec();
        qa.extend_from_slice(&self.w.faq_generic);
        let k = (self.scaled(3.0, 2, 8) as usize).min(qa.len());
        let mut sections = Vec::new();
        for _ in 0..k {
            let i = self.below(qa.len() as u64) as usize;
            let (q, a) = qa.remove(i);
            sections.push(Section {
                title: Some(self.fill(q)),
                blocks: vec![Block::P(Inline::text(self.fill(a)))],
            });
        }
        sections
    }

    fn contact_page(&mut self) -> Vec<Section> {
        let mut text = format!("{}, {} {}.", self.street, self.postcode, self.city.name);
        for _ in 0..self.scaled(1.5, 1, 3) {
            text.push(' ');
            let s = self.fresh(&self.w.access);
            text.push_str(&self.fill(s));
        }
        let mut find = vec![Block::P(marks(&text))];
        if self.chance(0.3) {
            let k = self.scaled(1.5, 1, 3);
            let items = (0..k)
                .map(|_| {
                    let s = self.fresh(&self.w.access);
                    Inline::text(self.fill(s))
                })
                .collect();
            find.push(Block::List(items));
        }
        let mut runs = Vec::new();
        if let Some((display, number)) = self.phone.clone() {
            runs.push(Run::Text(self.w.call.to_owned()));
            runs.push(Run::Link {
                label: Inline::text(display),
                href: format!("tel:{number}"),
            });
        }
        if let Some(email) = self.email.clone() {
            runs.push(Run::Text(format!(" {}", self.w.write)));
            runs.push(Run::Link {
                label: Inline::text(email.clone()),
                href: format!("mailto:{email}"),
            });
        }
        runs.push(Run::Text(".".to_owned()));
        vec![
            Section {
                title: Some(self.w.find_us.to_owned()),
                blocks: find,
            },
            Section {
                title: Some(self.w.reach_us.to_owned()),
                blocks: vec![Block::P(Inline(runs))],
            },
        ]
    }
}
