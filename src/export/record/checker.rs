//! The problem collector of the checks. A [`Checker`] keeps the path of the field being checked
//! (`pages[0].sections[1].blocks[2]`), records each problem at that path, up to
//! [`MAX_PROBLEMS`], counts the rest, and has the checks many fields share: a single-line text,
//! a pattern, a count, pixels, a media file name, inline text and its links.

use super::decode::FieldError;
use super::formats::{check_href, shorten, valid_media_src};
use super::limits::{MAX_INLINE_CHARS, MAX_INLINE_DEPTH, MAX_LINE_CHARS, MAX_PROBLEMS};
use super::types::{Inline, Run};

/// Collects problems with their paths, up to [`MAX_PROBLEMS`].
pub(super) struct Checker {
    pub(super) path: Vec<String>,
    pub(super) problems: Vec<FieldError>,
    pub(super) more: usize,
}

impl Checker {
    pub(super) fn at<T>(
        &mut self,
        segment: impl Into<String>,
        f: impl FnOnce(&mut Checker) -> T,
    ) -> T {
        self.path.push(segment.into());
        let out = f(self);
        self.path.pop();
        out
    }

    fn path(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            if !seg.starts_with('[') && !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
        out
    }

    pub(super) fn fail(&mut self, reason: impl Into<String>) {
        if self.problems.len() < MAX_PROBLEMS {
            let path = self.path();
            self.problems.push(FieldError {
                path,
                reason: reason.into(),
            });
        } else {
            self.more += 1;
        }
    }

    pub(super) fn field(&mut self, name: &str, reason: impl Into<String>) {
        self.at(name, |c| c.fail(reason));
    }

    /// Characters no XML file may carry (C0/C1 controls, U+FFFE/U+FFFF), with `\n` and `\t`
    /// allowed only where `multiline`.
    pub(super) fn clean(&mut self, s: &str, multiline: bool) -> bool {
        let bad = s.chars().find(|&c| {
            (c.is_control() && !(multiline && (c == '\n' || c == '\t')))
                || c == '\u{FFFE}'
                || c == '\u{FFFF}'
        });
        match bad {
            Some(c) => {
                self.fail(format!(
                    "control character U+{:04X} is not allowed{}",
                    c as u32,
                    if multiline {
                        " (only newline and tab are, in running text)"
                    } else {
                        ""
                    }
                ));
                false
            }
            None => true,
        }
    }

    /// A required single-line text.
    pub(super) fn line(&mut self, name: &str, s: &str) {
        self.at(name, |c| c.line_here(s));
    }

    pub(super) fn line_here(&mut self, s: &str) {
        if !self.clean(s, false) {
            return;
        }
        if s.trim().is_empty() {
            self.fail("must not be empty or blank");
        } else if s.chars().count() > MAX_LINE_CHARS {
            self.fail(format!(
                "{} characters, at most {MAX_LINE_CHARS}",
                s.chars().count()
            ));
        }
    }

    pub(super) fn opt_line(&mut self, name: &str, s: &Option<String>) {
        if let Some(s) = s {
            self.line(name, s);
        }
    }

    pub(super) fn pattern(&mut self, name: &str, s: &str, ok: bool, expected: &str) {
        if !ok {
            self.at(name, |c| {
                if c.clean(s, false) {
                    c.fail(format!("{:?} is not {expected}", shorten(s)));
                }
            });
        }
    }

    pub(super) fn count(&mut self, name: &str, n: usize, min: usize, max: usize) -> bool {
        if n < min {
            self.field(
                name,
                if min == 1 {
                    "must have at least one entry".to_owned()
                } else {
                    format!("must have at least {min} entries")
                },
            );
            false
        } else if n > max {
            self.field(name, format!("{n} entries, at most {max}"));
            false
        } else {
            true
        }
    }

    pub(super) fn pixels(&mut self, name: &str, v: Option<u32>) {
        if let Some(v) = v {
            if !(1..=10_000).contains(&v) {
                self.field(name, format!("{v} pixels is not in 1..=10000"));
            }
        }
    }

    pub(super) fn media(&mut self, name: &str, src: &str) {
        self.pattern(
            name,
            src,
            valid_media_src(src),
            "a file name in the site's media/ folder (letters, digits, `_.-`, sub-folders \
             with `/`, no `..`, at most 255 bytes)",
        );
    }

    /// Inline text; returns its character count. `in_link` forbids nested links.
    fn inline(&mut self, inline: &Inline, depth: usize, in_link: bool, pages: &[&str]) -> usize {
        let mut chars = 0;
        if depth > MAX_INLINE_DEPTH {
            self.fail(format!("runs nested deeper than {MAX_INLINE_DEPTH}"));
            return 0;
        }
        // A plain string decodes to one text run: its problems are at the field itself.
        let plain = matches!(inline.0.as_slice(), [Run::Text(_)]);
        for (i, run) in inline.0.iter().enumerate() {
            let seg = if plain {
                String::new()
            } else {
                format!("[{i}]")
            };
            let check = |c: &mut Checker| match run {
                Run::Text(t) => {
                    c.clean(t, true);
                    t.chars().count()
                }
                Run::Em(inner) => c.at("em", |c| c.nonempty_inline(inner, depth, in_link, pages)),
                Run::Strong(inner) => c.at("strong", |c| {
                    c.nonempty_inline(inner, depth, in_link, pages)
                }),
                Run::Link { label, href } => {
                    if in_link {
                        c.fail("a link inside a link is not allowed");
                        return 0;
                    }
                    c.at("href", |c| c.href(href, pages));
                    c.at("a", |c| c.nonempty_inline(label, depth, true, pages))
                }
            };
            chars += if seg.is_empty() {
                check(self)
            } else {
                self.at(seg, check)
            };
        }
        chars
    }

    fn nonempty_inline(
        &mut self,
        inline: &Inline,
        depth: usize,
        in_link: bool,
        pages: &[&str],
    ) -> usize {
        if inline_is_blank(inline) {
            self.fail("must not be empty or blank");
        }
        self.inline(inline, depth + 1, in_link, pages)
    }

    /// A paragraph, list item or description.
    pub(super) fn running_text(&mut self, inline: &Inline, pages: &[&str]) {
        if inline_is_blank(inline) {
            self.fail("must not be empty or blank");
            return;
        }
        let chars = self.inline(inline, 0, false, pages);
        if chars > MAX_INLINE_CHARS {
            self.fail(format!("{chars} characters, at most {MAX_INLINE_CHARS}"));
        }
    }

    fn href(&mut self, href: &str, pages: &[&str]) {
        if !self.clean(href, false) {
            return;
        }
        match check_href(href, pages) {
            Ok(()) => {}
            Err(reason) => self.fail(reason),
        }
    }
}

fn inline_is_blank(inline: &Inline) -> bool {
    inline.0.iter().all(|run| match run {
        Run::Text(t) => t.trim().is_empty(),
        Run::Em(i) | Run::Strong(i) => inline_is_blank(i),
        Run::Link { label, .. } => inline_is_blank(label),
    })
}
