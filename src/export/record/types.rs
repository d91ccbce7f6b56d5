//! The record types, field for field as the back office sends them.
//!
//! Derived serde with `deny_unknown_fields`, so that a misspelt field is an error rather than
//! silently dropped. The compact forms (a day, a period, inline text and its runs, a decimal)
//! have hand-written serde, in `serde_impl`.

use serde::{Deserialize, Serialize};

/// One professional's site, as the back office sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Site id: `[a-z0-9][a-z0-9-]*`, at most 63 bytes; names the folder `SHARD/ID/`.
    pub id: String,
    /// Theme: a stylesheet `NAME.xsl` of the stylesheets folder.
    pub theme: String,
    /// Language tag (`fr`, `en`, `fr-CA`).
    pub lang: String,
    /// Host names, main first; normalised by [`Record::check`].
    pub domains: Vec<String>,
    /// Who the professional is.
    pub identity: Identity,
    /// How to reach them.
    pub contact: Contact,
    /// Opening hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<Hours>,
    /// Pages; the first is the home page.
    pub pages: Vec<Page>,
    /// How the domains answer over HTTPS and between each other; the defaults when absent.
    #[serde(default, skip_serializing_if = "HttpsPolicy::is_default")]
    pub https: HttpsPolicy,
}

/// `https`: the site's HTTPS policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpsPolicy {
    /// `Strict-Transport-Security` max-age in seconds, sent on every HTTPS page; absent, no
    /// HSTS. Off by default because browsers remember it for that long: a site that loses its
    /// certificate would be unreachable. `0` tells browsers to forget an earlier one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsts_max_age: Option<u32>,
    /// `includeSubDomains` in that header (needs `hsts_max_age`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hsts_include_subdomains: bool,
    /// What the other domains of the site do: `redirect` (default, 301 to the main domain)
    /// or `serve` (the same pages, with a canonical link to the main domain).
    #[serde(default, skip_serializing_if = "Aliases::is_default")]
    pub aliases: Aliases,
}

impl HttpsPolicy {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `https.aliases`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aliases {
    /// 301 to the same path on the main domain.
    #[default]
    Redirect,
    /// Answer the same pages.
    Serve,
}

impl Aliases {
    fn is_default(&self) -> bool {
        *self == Self::Redirect
    }
}

/// `identity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Trading name.
    pub name: String,
    /// Activity as shown ("Boulangerie-pâtisserie").
    pub activity: String,
    /// schema.org type of the activity (`Bakery`); `LocalBusiness` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    /// Accent colour `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent: Option<String>,
    /// Slogan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slogan: Option<String>,
    /// Logo, in `media/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<Logo>,
    /// Legal notice.
    pub legal: Legal,
}

/// `identity.logo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logo {
    /// File in the site's `media/` folder.
    pub src: String,
    /// Alternative text.
    pub alt: String,
    /// Width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// `identity.legal`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Legal {
    /// Company name.
    pub company: String,
    /// Legal form and capital.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// Registration (SIRET...).
    pub registration: Registration,
    /// VAT number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat: Option<String>,
    /// Publication director.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub director: Option<String>,
    /// Regulated profession.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profession: Option<String>,
    /// Professional insurance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurance: Option<String>,
    /// Host statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `identity.legal.registration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// Register ("SIRET", "RCS Paris").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Number as displayed.
    pub number: String,
}

/// `contact`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Phones, in display order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<Phone>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Postal address.
    pub address: Address,
}

/// Kind of phone line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneKind {
    /// Fixed line.
    Landline,
    /// Mobile.
    Mobile,
    /// Fax.
    Fax,
}

impl PhoneKind {
    /// The XML attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneKind::Landline => "landline",
            PhoneKind::Mobile => "mobile",
            PhoneKind::Fax => "fax",
        }
    }
}

/// `contact.phones[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    /// Kind of line.
    pub kind: PhoneKind,
    /// E.164 number for `tel:` links (`+33142000000`).
    pub number: String,
    /// As displayed (`01 42 00 00 00`).
    pub display: String,
}

/// `contact.address`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street lines (at least one).
    pub street: Vec<String>,
    /// Postcode.
    pub postcode: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: Country,
    /// Coordinates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
}

/// `contact.address.country`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code.
    pub code: String,
    /// Name as displayed.
    pub name: String,
}

/// `contact.address.geo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geo {
    /// Latitude, -90..90.
    pub lat: Decimal,
    /// Longitude, -180..180.
    pub lon: Decimal,
}

/// `hours`: the seven days, an optional note, exceptional closures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// Monday.
    pub monday: Day,
    /// Tuesday.
    pub tuesday: Day,
    /// Wednesday.
    pub wednesday: Day,
    /// Thursday.
    pub thursday: Day,
    /// Friday.
    pub friday: Day,
    /// Saturday.
    pub saturday: Day,
    /// Sunday.
    pub sunday: Day,
    /// Note under the table ("Sur rendez-vous").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Exceptional closures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closures: Vec<Closure>,
}

impl Hours {
    /// The days in contract order, with their XML names.
    pub fn days(&self) -> [(&'static str, &Day); 7] {
        [
            ("monday", &self.monday),
            ("tuesday", &self.tuesday),
            ("wednesday", &self.wednesday),
            ("thursday", &self.thursday),
            ("friday", &self.friday),
            ("saturday", &self.saturday),
            ("sunday", &self.sunday),
        ]
    }
}

/// One day: `"closed"` or a list of `"HH:MM-HH:MM"` periods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Day {
    /// Closed all day.
    Closed,
    /// Open during these periods.
    Open(Vec<Period>),
}

/// An opening period, written `"07:00-13:00"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Opening time `HH:MM`.
    pub from: String,
    /// Closing time `HH:MM` (`24:00` for midnight).
    pub to: String,
}

/// `hours.closures[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Closure {
    /// First day closed, `YYYY-MM-DD`.
    pub from: String,
    /// Last day closed (inclusive); absent for a single day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Why, as shown.
    pub reason: String,
}

/// `pages[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Page id, served at `/<id>` (the first page at `/`).
    pub id: String,
    /// Title.
    pub title: String,
    /// Meta description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Sections (at least one).
    pub sections: Vec<Section>,
}

/// `pages[i].sections[j]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// Heading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Content, in order (at least one block).
    pub blocks: Vec<Block>,
}

/// One block of a section: an object with exactly one of these keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Block {
    /// A paragraph.
    P(Inline),
    /// A bulleted list.
    List(Vec<Inline>),
    /// Services and prices.
    Services(Vec<Service>),
    /// Photos.
    Gallery(Vec<Photo>),
    /// One photo.
    Photo(Photo),
    /// One video.
    Video(Video),
}

/// A service of a `services` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Inline>,
    /// Price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
}

/// A price: an amount (with currency, unit, "from") or `on_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Amount, dot as decimal separator, at most two decimals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
    /// ISO 4217 currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Unit ("pièce", "kg", "heure").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// A starting price ("à partir de").
    #[serde(default, skip_serializing_if = "is_false")]
    pub from: bool,
    /// Price on request ("sur devis"), instead of an amount.
    #[serde(default, skip_serializing_if = "is_false")]
    pub on_request: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A photo, in a gallery or on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Photo {
    /// File in the site's `media/` folder.
    pub src: String,
    /// Alternative text.
    pub alt: String,
    /// Width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// Video container types the themes know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VideoType {
    /// MP4.
    #[serde(rename = "video/mp4")]
    Mp4,
    /// WebM.
    #[serde(rename = "video/webm")]
    Webm,
    /// Ogg.
    #[serde(rename = "video/ogg")]
    Ogg,
}

impl VideoType {
    /// The XML attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            VideoType::Mp4 => "video/mp4",
            VideoType::Webm => "video/webm",
            VideoType::Ogg => "video/ogg",
        }
    }
}

/// A video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Video {
    /// File in the site's `media/` folder.
    pub src: String,
    /// Container type.
    #[serde(rename = "type")]
    pub mime: VideoType,
    /// Poster image in `media/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster: Option<String>,
    /// Width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// Inline text: a plain string, or an array of runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inline(pub Vec<Run>);

/// One run of inline text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// Plain text: `"text"`.
    Text(String),
    /// Emphasis: `{"em": INLINE}`.
    Em(Inline),
    /// Strong importance: `{"strong": INLINE}`.
    Strong(Inline),
    /// A link: `{"a": INLINE, "href": "…"}`.
    Link {
        /// The link's text (no links inside).
        label: Inline,
        /// Target: `http(s)://…`, `mailto:…`, `tel:…`, `/page`, `/page#anchor`, `#anchor`.
        href: String,
    },
}

impl Inline {
    /// Plain text.
    pub fn text(s: impl Into<String>) -> Inline {
        Inline(vec![Run::Text(s.into())])
    }
}

/// A decimal number kept as written (`"1.30"` stays `1.30`); accepts a JSON string or number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Decimal(pub String);
