//! The corpus generator's word bank: activities (with their schema.org types, services and
//! price ranges, photo subjects, opening-hours patterns), cities with postcodes and
//! coordinates, names, and the sentences pages are assembled from, in French and English.
//!
//! The data are in `bench/tools/data/bank.json`, compiled into the binary and parsed once, on
//! first use ([`bank`]); this module holds their types. Every string is borrowed from the
//! compiled-in file rather than copied, which is why the file's strings carry no JSON escape
//! (`\"`, `\n`, `\u00e9`...): characters are written as themselves (’, « », é), and a
//! string with an escape fails the parse, and `the_bank_parses`.
//!
//! Templates may hold placeholders (`{name}`, `{city}`, `{owner}`, `{first}`, `{surname}`,
//! `{year}`, `{years}`) and two marks: `**strong**` and `*emphasis*`; `*` appears nowhere
//! else. Everything in the file is data: the rules that combine it live in the parent module.

use std::sync::LazyLock;

use serde::Deserialize;

/// How a business opens: the opening-hours pattern of [`super`]'s hours generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Kind {
    /// Food shop: early mornings, long lunch break, Sunday morning, closed Monday.
    FoodShop,
    /// Shop: 9:30 or 10:00 to 19:00, lunch break or not, closed Sunday and often Monday.
    Shop,
    /// Office: weekdays with a lunch break, by appointment.
    Office,
    /// Health practice: long weekdays, sometimes Saturday morning.
    Medical,
    /// Craftsman: early weekdays, emergency note.
    Trade,
    /// Garage: weekdays and Saturday morning.
    Garage,
    /// Restaurant: lunch and dinner services, closed one or two days.
    Restaurant,
    /// Café: all day, every day but one.
    Cafe,
    /// Hairdresser, beauty salon: Tuesday to Saturday, one late evening.
    Salon,
    /// Guest house: reception hours, every day.
    Lodging,
}

/// A service of a price list: a price is drawn in `lo..=hi` (`lo == 0.0`: on request).
/// Written in the file as `[name, desc, lo, hi, unit]`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Svc {
    /// Name.
    pub name: &'static str,
    /// Description ("" for none).
    pub desc: &'static str,
    /// Lowest plausible price.
    pub lo: f64,
    /// Highest plausible price.
    pub hi: f64,
    /// Unit ("" for none).
    pub unit: &'static str,
}

/// A titled group of services (one section of a price page).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Section title.
    pub title: &'static str,
    /// Its services, in display order.
    pub services: Vec<Svc>,
}

/// One trade, in one language.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    /// Short slug for secondary domains (`boulangerie`).
    pub key: &'static str,
    /// `identity.activity`.
    pub label: &'static str,
    /// schema.org type; `None` leaves the default `LocalBusiness`.
    pub schema: Option<&'static str>,
    /// Opening-hours pattern.
    pub kind: Kind,
    /// Trading-name patterns.
    pub names: Vec<&'static str>,
    /// Slogans.
    pub slogans: Vec<&'static str>,
    /// Sentences about the trade, for home and about pages.
    pub sentences: Vec<&'static str>,
    /// Short selling points, as list items.
    pub highlights: Vec<&'static str>,
    /// Id and title of the price page.
    pub prices_page: (&'static str, &'static str),
    /// Price list.
    pub groups: Vec<Group>,
    /// Photo subjects: media file stem and alternative text.
    pub photos: Vec<(&'static str, &'static str)>,
    /// Team roles.
    pub roles: Vec<&'static str>,
    /// Questions and answers specific to the trade.
    pub faq: Vec<(&'static str, &'static str)>,
    /// Regulated profession line (`{city}` allowed); `None` for unregulated trades.
    pub profession: Option<&'static str>,
    /// Whether the insurance line is the builders' ten-year guarantee.
    pub builder: bool,
    /// Accent colours that suit the trade.
    pub accents: Vec<&'static str>,
}

/// A city: name, postcode (first of `districts` consecutive ones when it has districts),
/// coordinates of its centre, telephone zone (French `0Z`, or the index of a UK area).
/// Written in the file as `[name, postcode, districts, lat, lon, zone]`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct City {
    /// Name as written.
    pub name: &'static str,
    /// Postcode (France) or outward codes separated by spaces (UK).
    pub postcode: &'static str,
    /// Consecutive postcodes (Paris, Lyon, Marseille districts); 1 otherwise.
    pub districts: u32,
    /// Latitude of the centre.
    pub lat: f64,
    /// Longitude of the centre.
    pub lon: f64,
    /// Telephone zone: 1-5 in France; an index into [`Bank::uk_phones`] in the UK.
    pub zone: u8,
}

/// Everything that depends on the language but not on the trade.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Words {
    /// Language tag.
    pub lang: &'static str,
    /// Home page id and title.
    pub home: (&'static str, &'static str),
    /// About page.
    pub about: (&'static str, &'static str),
    /// Team page.
    pub team: (&'static str, &'static str),
    /// Photo gallery page.
    pub gallery: (&'static str, &'static str),
    /// News page.
    pub news: (&'static str, &'static str),
    /// Questions page.
    pub faq: (&'static str, &'static str),
    /// Contact and access page.
    pub contact: (&'static str, &'static str),
    /// Titles of the home page's first section.
    pub welcome: Vec<&'static str>,
    /// Titles of the selling-points section.
    pub strengths: Vec<&'static str>,
    /// Titles of the home page's services teaser.
    pub offer: Vec<&'static str>,
    /// Titles of the about page's section.
    pub story: Vec<&'static str>,
    /// Titles of the gallery section.
    pub gallery_titles: Vec<&'static str>,
    /// Title of the video section.
    pub video: &'static str,
    /// Captions of the presentation video.
    pub video_captions: Vec<&'static str>,
    /// Title of the access section.
    pub find_us: &'static str,
    /// Title of the "reach us" section.
    pub reach_us: &'static str,
    /// Sentences any business may say.
    pub generic: Vec<&'static str>,
    /// History sentences (`{owner}`, `{year}`, `{years}`).
    pub history: Vec<&'static str>,
    /// Access sentences.
    pub access: Vec<&'static str>,
    /// Payment and booking sentences, closing a price page.
    pub practical: Vec<&'static str>,
    /// Title of the closing section of a price page.
    pub practical_title: &'static str,
    /// Questions any business gets.
    pub faq_generic: Vec<(&'static str, &'static str)>,
    /// News items (title, text).
    pub news_items: Vec<(&'static str, &'static str)>,
    /// Link sentences: text before the link, text after; the link label is a page title.
    pub see_page: Vec<(&'static str, &'static str)>,
    /// Before a phone link.
    pub call: &'static str,
    /// Before an e-mail link.
    pub write: &'static str,
    /// Team introduction.
    pub team_intro: Vec<&'static str>,
    /// Values list title on the about page.
    pub values_title: &'static str,
    /// Page description patterns (`{title}`, `{name}`, `{city}`).
    pub descriptions: Vec<&'static str>,
    /// Alternative text of the logo (`{name}`).
    pub logo_alt: &'static str,
    /// Annual leave reasons.
    pub leave: Vec<&'static str>,
    /// Single-day closures: date, reason.
    pub holidays: Vec<(&'static str, &'static str)>,
    /// End-of-year closure reason.
    pub christmas: &'static str,
    /// Other closures (training, works, stocktaking).
    pub other_closures: Vec<&'static str>,
    /// Hours notes by kind: appointments, emergencies, booking.
    pub note_appointment: Vec<&'static str>,
    /// Emergency notes (trades).
    pub note_emergency: Vec<&'static str>,
    /// Booking notes (restaurants, salons).
    pub note_booking: Vec<&'static str>,
    /// Host statements.
    pub host: Vec<&'static str>,
    /// Country code and name.
    pub country: (&'static str, &'static str),
}

/// The whole bank, as `data/bank.json` holds it.
#[derive(Debug, Deserialize)]
// Every string of the bank is borrowed from the compiled-in file: serde sees that for the
// types with a `&'static str` of their own, but must be told here, where they are only nested.
#[serde(deny_unknown_fields, bound(deserialize = "'de: 'static"))]
pub struct Bank {
    /// French cities, roughly by population (the generator draws them with a Zipf law).
    pub cities_fr: Vec<City>,
    /// UK towns; `postcode` lists outward codes, `zone` indexes [`Bank::uk_phones`].
    pub cities_uk: Vec<City>,
    /// UK numbers in the ranges Ofcom keeps for drama (never allocated): display prefix,
    /// E.164 prefix; four digits follow, the first being 0.
    pub uk_phones: Vec<(&'static str, &'static str)>,
    /// Frequent French surnames (with their accents: they make IDN domains).
    pub surnames_fr: Vec<&'static str>,
    /// French first names.
    pub first_fr: Vec<&'static str>,
    /// English surnames.
    pub surnames_en: Vec<&'static str>,
    /// English first names.
    pub first_en: Vec<&'static str>,
    /// French street names.
    pub streets_fr: Vec<&'static str>,
    /// Second address lines (French).
    pub street2_fr: Vec<&'static str>,
    /// UK street names.
    pub streets_en: Vec<&'static str>,
    /// UK second address lines.
    pub street2_en: Vec<&'static str>,
    /// Accent colours for trades without a palette of their own.
    pub accents: Vec<&'static str>,
    /// Insurers, for insurance lines.
    pub insurers: Vec<&'static str>,
    /// French.
    pub fr: Words,
    /// English (UK sites).
    pub en: Words,
    /// French trades, most frequent first (the generator draws them with a Zipf law).
    pub activities_fr: Vec<Activity>,
    /// UK trades, most frequent first.
    pub activities_en: Vec<Activity>,
}

/// The bank's file, compiled in so the binary needs nothing beside it at run time.
const BANK_JSON: &str = include_str!("../../data/bank.json");

static BANK: LazyLock<Bank> = LazyLock::new(|| {
    serde_json::from_str(BANK_JSON).unwrap_or_else(|e| {
        panic!("bench/tools/data/bank.json: {e} (strings must be written without escapes)")
    })
});

/// The bank, parsed from `data/bank.json` on first use.
pub fn bank() -> &'static Bank {
    &BANK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bank_parses() {
        let b = bank();
        assert!(!b.activities_fr.is_empty() && !b.activities_en.is_empty());
        assert!(!b.cities_fr.is_empty() && !b.cities_uk.is_empty());
        for c in &b.cities_uk {
            assert!(usize::from(c.zone) < b.uk_phones.len(), "{}", c.name);
        }
        assert_eq!((b.fr.lang, b.en.lang), ("fr", "en"));
    }
}
