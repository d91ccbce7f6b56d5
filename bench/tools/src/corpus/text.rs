//! Text helpers of the corpus generator: French elision before names, times and amounts as
//! a site writes them, the `**strong**` and `*emphasis*` marks, slugs, IDN labels and Luhn
//! check digits.

use vitrine::export::record::{Inline, Run};

/// Appends a proper name, with French elision and contraction of the preposition before
/// it: `de Albi` -> `d’Albi`, `de Le Havre` -> `du Havre`, `à Le Mans` -> `au Mans`.
pub(super) fn push_name(out: &mut String, name: &str, french: bool) {
    let after_word = |out: &str, word: &str| {
        out.strip_suffix(word)
            .is_some_and(|before| before.is_empty() || before.ends_with(' '))
    };
    if french {
        if let Some(rest) = name.strip_prefix("Le ") {
            for (prep, contracted) in [("de ", "du "), ("à ", "au ")] {
                if after_word(out, prep) {
                    out.truncate(out.len() - prep.len());
                    out.push_str(contracted);
                    out.push_str(rest);
                    return;
                }
            }
        }
        let vowel = name
            .chars()
            .next()
            .is_some_and(|c| "AEIOUYÂÊÎÔÉÈH".contains(c));
        if vowel && after_word(out, "de ") {
            out.truncate(out.len() - 1);
            out.pop();
            out.push('’');
        }
    }
    out.push_str(name);
}

/// `HH:MM` of minutes after midnight (1440 is `24:00`).
pub(super) fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A price as a back office would type it: cents below 10, halves below 100, units below
/// 1,000, tens above.
pub(super) fn amount(v: f64) -> String {
    if v < 10.0 {
        format!("{:.2}", (v * 20.0).round() / 20.0)
    } else if v < 100.0 {
        let h = (v * 2.0).round() / 2.0;
        if h.fract() == 0.0 {
            format!("{h:.0}")
        } else {
            format!("{h:.2}")
        }
    } else if v < 1000.0 {
        format!("{:.0}", v.round())
    } else {
        format!("{:.0}", (v / 10.0).round() * 10.0)
    }
}

/// Inline runs of a template's `**strong**` and `*emphasis*` marks.
pub(super) fn marks(text: &str) -> Inline {
    let mut runs = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('*') {
        let strong = rest[i..].starts_with("**");
        let mark = if strong { "**" } else { "*" };
        let body = &rest[i + mark.len()..];
        let Some(end) = body.find(mark) else { break };
        if i > 0 {
            runs.push(Run::Text(rest[..i].to_owned()));
        }
        let inner = Inline::text(&body[..end]);
        runs.push(if strong {
            Run::Strong(inner)
        } else {
            Run::Em(inner)
        });
        rest = &body[end + mark.len()..];
    }
    if !rest.is_empty() {
        runs.push(Run::Text(rest.to_owned()));
    }
    Inline(runs)
}

/// The ASCII letter(s) of a Latin letter with diacritics, or `None` to keep it.
pub(super) fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
        'ç' => "c",
        'è' | 'é' | 'ê' | 'ë' => "e",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => "o",
        'ù' | 'ú' | 'û' | 'ü' => "u",
        'ý' | 'ÿ' => "y",
        'œ' => "oe",
        'æ' => "ae",
        _ => return None,
    })
}

/// `Pâtisserie L’Été & Fils` to `patisserie-l-ete-fils`: ASCII letters and digits, one
/// hyphen between words.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.to_lowercase().chars() {
        match fold(c) {
            Some(s) => out.push_str(s),
            None if c.is_ascii_alphanumeric() => out.push(c),
            // Apostrophes join (`o'brien` -> `obrien`), everything else separates.
            None if c == '\'' || c == '’' => {}
            None if !out.is_empty() && !out.ends_with('-') => out.push('-'),
            None => {}
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// The accented domain label of a name and city (`pâtisserie-lefèvre-nîmes`).
pub(super) fn idn_label(name: &str, city: &str) -> String {
    let mut out = String::new();
    let text = if slug(name).contains(&slug(city)) {
        name.to_lowercase()
    } else {
        format!("{name} {city}").to_lowercase()
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') && c != '\'' && c != '’' {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// `digits` followed by its Luhn check digit (SIREN and SIRET numbers carry one).
pub(super) fn luhn_complete(digits: &str) -> String {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}
