//! Writing a checked [`Record`] as its site XML: the bytes the publisher serves from.
//!
//! Events go through quick-xml, so every text and attribute is escaped by one well-tested
//! escaper (`<`, `>` and `&` in text, quotes as well in attributes, carriage returns as
//! character references). The layout is fixed and readable: two-space indentation, one element
//! per line down to the leaves, services, photos and opening days kept on one line each, and
//! running text (paragraphs, list items, descriptions) written inline with no added
//! whitespace, since there whitespace is content. The same record always gives the same
//! bytes, which is what lets the exporter skip rewriting unchanged files.

use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesPI, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::record::{Aliases, Block, Day, Inline, Photo, Price, Record, Run};
use crate::render::xslt::MAX_XML_BYTES;

/// Why a record could not be written as XML.
#[derive(Debug, thiserror::Error)]
pub enum XmlWriteError {
    /// The XML is larger than the publisher reads.
    #[error("the site XML would be {size} bytes, over the {MAX_XML_BYTES}-byte limit of a site file: shorten the record's texts or split pages")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// The writer failed (it writes to memory, so only on allocation failure).
    #[error("writing the site XML failed: {0}")]
    Write(#[from] std::io::Error),
}

type Attrs<'a> = &'a [(&'a str, &'a str)];

/// A quick-xml writer with the layout rules.
struct Out {
    w: Writer<Vec<u8>>,
    depth: usize,
}

impl Out {
    fn newline(&mut self) {
        let buf = self.w.get_mut();
        buf.push(b'\n');
        buf.resize(buf.len() + 2 * self.depth, b' ');
    }

    fn tag<'a>(name: &'a str, attrs: Attrs<'a>) -> BytesStart<'a> {
        let mut start = BytesStart::new(name);
        for &(k, v) in attrs {
            start.push_attribute((k, v));
        }
        start
    }

    /// `<name …>` on a new line; children follow indented.
    fn open(&mut self, name: &str, attrs: Attrs) -> std::io::Result<()> {
        self.newline();
        self.w.write_event(Event::Start(Self::tag(name, attrs)))?;
        self.depth += 1;
        Ok(())
    }

    /// `</name>` on a new line.
    fn close(&mut self, name: &str) -> std::io::Result<()> {
        self.depth -= 1;
        self.newline();
        self.w.write_event(Event::End(BytesEnd::new(name)))
    }

    /// `<name …/>` on a new line.
    fn empty(&mut self, name: &str, attrs: Attrs) -> std::io::Result<()> {
        self.newline();
        self.inline_empty(name, attrs)
    }

    /// `<name …>text</name>` on a new line.
    fn leaf(&mut self, name: &str, attrs: Attrs, text: &str) -> std::io::Result<()> {
        self.newline();
        self.inline_leaf(name, attrs, text)
    }

    fn opt_leaf(&mut self, name: &str, text: &Option<String>) -> std::io::Result<()> {
        match text {
            Some(t) => self.leaf(name, &[], t),
            None => Ok(()),
        }
    }

    fn inline_start(&mut self, name: &str, attrs: Attrs) -> std::io::Result<()> {
        self.w.write_event(Event::Start(Self::tag(name, attrs)))
    }

    fn inline_end(&mut self, name: &str) -> std::io::Result<()> {
        self.w.write_event(Event::End(BytesEnd::new(name)))
    }

    fn inline_empty(&mut self, name: &str, attrs: Attrs) -> std::io::Result<()> {
        self.w.write_event(Event::Empty(Self::tag(name, attrs)))
    }

    fn inline_leaf(&mut self, name: &str, attrs: Attrs, text: &str) -> std::io::Result<()> {
        self.inline_start(name, attrs)?;
        self.text(text)?;
        self.inline_end(name)
    }

    fn text(&mut self, text: &str) -> std::io::Result<()> {
        // Quotes need no escaping in text; leaving them makes the files easier to read.
        self.w
            .write_event(Event::Text(BytesText::from_escaped(partial_escape(text))))
    }

    /// Running text: runs written inline, whitespace exactly as given.
    fn runs(&mut self, inline: &Inline) -> std::io::Result<()> {
        for run in &inline.0 {
            match run {
                Run::Text(t) => self.text(t)?,
                Run::Em(i) => {
                    self.inline_start("em", &[])?;
                    self.runs(i)?;
                    self.inline_end("em")?;
                }
                Run::Strong(i) => {
                    self.inline_start("strong", &[])?;
                    self.runs(i)?;
                    self.inline_end("strong")?;
                }
                Run::Link { label, href } => {
                    self.inline_start("a", &[("href", href)])?;
                    self.runs(label)?;
                    self.inline_end("a")?;
                }
            }
        }
        Ok(())
    }

    fn running(&mut self, name: &str, inline: &Inline) -> std::io::Result<()> {
        self.newline();
        self.inline_start(name, &[])?;
        self.runs(inline)?;
        self.inline_end(name)
    }
}

/// Optional pixel sizes as attribute strings.
fn sizes(width: Option<u32>, height: Option<u32>) -> (Option<String>, Option<String>) {
    (width.map(|w| w.to_string()), height.map(|h| h.to_string()))
}

/// Builds an attribute list from required and optional pairs, in order.
fn attrs<'a>(pairs: &[(&'a str, Option<&'a str>)]) -> Vec<(&'a str, &'a str)> {
    pairs
        .iter()
        .filter_map(|&(k, v)| v.map(|v| (k, v)))
        .collect()
}

fn photo(out: &mut Out, p: &Photo) -> std::io::Result<()> {
    let (w, h) = sizes(p.width, p.height);
    let a = attrs(&[
        ("src", Some(&p.src)),
        ("alt", Some(&p.alt)),
        ("width", w.as_deref()),
        ("height", h.as_deref()),
    ]);
    out.newline();
    match &p.caption {
        Some(caption) => {
            out.inline_start("photo", &a)?;
            out.inline_leaf("caption", &[], caption)?;
            out.inline_end("photo")
        }
        None => out.inline_empty("photo", &a),
    }
}

fn price(out: &mut Out, p: &Price) -> std::io::Result<()> {
    match &p.amount {
        None => out.inline_empty("price", &[("on-request", "true")]),
        Some(amount) => {
            let a = attrs(&[
                ("currency", p.currency.as_deref()),
                ("unit", p.unit.as_deref()),
                ("from", p.from.then_some("true")),
            ]);
            out.inline_leaf("price", &a, &amount.0)
        }
    }
}

fn block(out: &mut Out, b: &Block) -> std::io::Result<()> {
    match b {
        Block::P(inline) => out.running("p", inline),
        Block::List(items) => {
            out.open("list", &[])?;
            for item in items {
                out.running("item", item)?;
            }
            out.close("list")
        }
        Block::Services(services) => {
            out.open("services", &[])?;
            for s in services {
                out.newline();
                out.inline_start("service", &[])?;
                out.inline_leaf("name", &[], &s.name)?;
                if let Some(d) = &s.description {
                    out.inline_start("description", &[])?;
                    out.runs(d)?;
                    out.inline_end("description")?;
                }
                if let Some(p) = &s.price {
                    price(out, p)?;
                }
                out.inline_end("service")?;
            }
            out.close("services")
        }
        Block::Gallery(photos) => {
            out.open("gallery", &[])?;
            for p in photos {
                photo(out, p)?;
            }
            out.close("gallery")
        }
        Block::Photo(p) => photo(out, p),
        Block::Video(v) => {
            let (w, h) = sizes(v.width, v.height);
            let a = attrs(&[
                ("src", Some(&v.src)),
                ("type", Some(v.mime.as_str())),
                ("poster", v.poster.as_deref()),
                ("width", w.as_deref()),
                ("height", h.as_deref()),
            ]);
            out.newline();
            match &v.caption {
                Some(caption) => {
                    out.inline_start("video", &a)?;
                    out.inline_leaf("caption", &[], caption)?;
                    out.inline_end("video")
                }
                None => out.inline_empty("video", &a),
            }
        }
    }
}

fn write(out: &mut Out, r: &Record) -> std::io::Result<()> {
    out.w
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    out.newline();
    // The theme name was checked ([a-z0-9-]), so it needs no escaping inside the PI.
    out.w.write_event(Event::PI(BytesPI::new(format!(
        "xml-stylesheet type=\"text/xsl\" href=\"{}.xsl\"",
        r.theme
    ))))?;
    out.open("site", &[("id", &r.id), ("lang", &r.lang)])?;

    let https = &r.https;
    let max_age = https.hsts_max_age.map(|a| a.to_string());
    out.open(
        "domains",
        &attrs(&[
            (
                "aliases",
                (https.aliases == Aliases::Serve).then_some("serve"),
            ),
            ("hsts-max-age", max_age.as_deref()),
            (
                "hsts-include-subdomains",
                https.hsts_include_subdomains.then_some("true"),
            ),
        ]),
    )?;
    for (i, d) in r.domains.iter().enumerate() {
        let a: Attrs = if i == 0 { &[("main", "true")] } else { &[] };
        out.leaf("domain", a, d)?;
    }
    out.close("domains")?;

    let id = &r.identity;
    out.open("identity", &attrs(&[("accent", id.accent.as_deref())]))?;
    out.leaf("name", &[], &id.name)?;
    out.leaf(
        "activity",
        &attrs(&[("schema", id.schema_type.as_deref())]),
        &id.activity,
    )?;
    out.opt_leaf("slogan", &id.slogan)?;
    if let Some(logo) = &id.logo {
        let (w, h) = sizes(logo.width, logo.height);
        out.empty(
            "logo",
            &attrs(&[
                ("src", Some(&logo.src)),
                ("alt", Some(&logo.alt)),
                ("width", w.as_deref()),
                ("height", h.as_deref()),
            ]),
        )?;
    }
    let l = &id.legal;
    out.open("legal", &[])?;
    out.leaf("company", &[], &l.company)?;
    out.opt_leaf("form", &l.form)?;
    out.leaf(
        "registration",
        &attrs(&[("kind", l.registration.kind.as_deref())]),
        &l.registration.number,
    )?;
    out.opt_leaf("vat", &l.vat)?;
    out.opt_leaf("director", &l.director)?;
    out.opt_leaf("profession", &l.profession)?;
    out.opt_leaf("insurance", &l.insurance)?;
    out.opt_leaf("host", &l.host)?;
    out.close("legal")?;
    out.close("identity")?;

    let c = &r.contact;
    out.open("contact", &[])?;
    for p in &c.phones {
        out.leaf(
            "phone",
            &[("kind", p.kind.as_str()), ("number", &p.number)],
            &p.display,
        )?;
    }
    out.opt_leaf("email", &c.email)?;
    let a = &c.address;
    out.open("address", &[])?;
    for s in &a.street {
        out.leaf("street", &[], s)?;
    }
    out.leaf("postcode", &[], &a.postcode)?;
    out.leaf("city", &[], &a.city)?;
    out.leaf("country", &[("code", &a.country.code)], &a.country.name)?;
    if let Some(geo) = &a.geo {
        out.empty("geo", &[("lat", &geo.lat.0), ("lon", &geo.lon.0)])?;
    }
    out.close("address")?;
    out.close("contact")?;

    if let Some(hours) = &r.hours {
        out.open("hours", &[])?;
        for (name, day) in hours.days() {
            out.newline();
            match day {
                Day::Closed => out.inline_empty("day", &[("name", name), ("closed", "true")])?,
                Day::Open(periods) => {
                    out.inline_start("day", &[("name", name)])?;
                    for p in periods {
                        out.inline_empty("open", &[("from", &p.from), ("to", &p.to)])?;
                    }
                    out.inline_end("day")?;
                }
            }
        }
        out.opt_leaf("note", &hours.note)?;
        for cl in &hours.closures {
            out.leaf(
                "closure",
                &attrs(&[("from", Some(&cl.from)), ("to", cl.to.as_deref())]),
                &cl.reason,
            )?;
        }
        out.close("hours")?;
    }

    out.open("pages", &[])?;
    for page in &r.pages {
        out.open(
            "page",
            &attrs(&[
                ("id", Some(&page.id)),
                ("title", Some(&page.title)),
                ("description", page.description.as_deref()),
            ]),
        )?;
        for section in &page.sections {
            out.open("section", &attrs(&[("title", section.title.as_deref())]))?;
            for b in &section.blocks {
                block(out, b)?;
            }
            out.close("section")?;
        }
        out.close("page")?;
    }
    out.close("pages")?;
    out.close("site")?;
    out.w.get_mut().push(b'\n');
    Ok(())
}

/// The site XML of a record that passed [`Record::check`] (unchecked records may give XML
/// that the schema refuses; the exporter validates the bytes either way).
pub fn site_xml(record: &Record) -> Result<Vec<u8>, XmlWriteError> {
    let mut out = Out {
        w: Writer::new(Vec::with_capacity(16 * 1024)),
        depth: 0,
    };
    write(&mut out, record)?;
    let bytes = out.w.into_inner();
    if bytes.len() > MAX_XML_BYTES {
        return Err(XmlWriteError::TooLarge { size: bytes.len() });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::record::{parse_line, Rules};
    use crate::render::xslt::{parse_document, Schema};

    fn record(edit: impl FnOnce(&mut serde_json::Value)) -> Record {
        let mut v: serde_json::Value =
            serde_json::from_str(crate::export::record::tests::MINIMAL).unwrap();
        edit(&mut v);
        let mut r = parse_line(&serde_json::to_vec(&v).unwrap()).unwrap();
        r.check(&Rules::with_themes(["classic"])).unwrap();
        r
    }

    #[test]
    fn hostile_text_is_escaped_and_reads_back_identically() {
        let hostile = "a < b && c > d \"quoted\" 'single' ]]> <!-- x --> <?pi?> &amp; 🥐 עברית";
        let r = record(|v| {
            v["identity"]["name"] = hostile.into();
            v["pages"][0]["title"] = hostile.into();
            v["pages"][0]["sections"][0]["blocks"][0]["p"] = serde_json::json!([
                hostile,
                {"a": hostile, "href": "https://x.fr/?a=1&b=\"2\"<3>"}
            ]);
        });
        let xml = site_xml(&r).unwrap();
        let text = String::from_utf8(xml.clone()).unwrap();
        assert!(!text.contains("]]>"), "{text}");
        assert!(text.contains("&amp;amp;"), "{text}");
        let doc = parse_document(&xml, "hostile.xml").unwrap();
        Schema::site().unwrap().validate(&doc).unwrap();
        let root = doc.root().unwrap();
        let identity = root.child("identity").unwrap();
        assert_eq!(identity.child("name").unwrap().text(), hostile);
        let page = root.child("pages").unwrap().child("page").unwrap();
        assert_eq!(page.attr("title").unwrap(), hostile);
        let p = page.child("section").unwrap().child("p").unwrap();
        assert_eq!(p.text(), format!("{hostile}{hostile}"));
        assert_eq!(
            p.child("a").unwrap().attr("href").unwrap(),
            "https://x.fr/?a=1&b=\"2\"<3>"
        );
    }

    #[test]
    fn same_record_same_bytes_and_layout() {
        let r = record(|_| {});
        let a = site_xml(&r).unwrap();
        assert_eq!(a, site_xml(&r.clone()).unwrap());
        let text = String::from_utf8(a).unwrap();
        assert!(text.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <?xml-stylesheet type=\"text/xsl\" href=\"classic.xsl\"?>\n\
             <site id=\"s1\" lang=\"fr\">\n  <domains>\n    <domain main=\"true\">s1.example.fr</domain>\n"
        ), "{text}");
        assert!(text.ends_with("  </pages>\n</site>\n"), "{text}");
        assert_eq!(crate::render::sniff_theme(text.as_bytes()), Ok("classic"));
    }

    #[test]
    fn the_https_policy_is_written_where_the_server_reads_it() {
        use crate::site::{policy::Aliases, SitePolicy};
        let r = record(|v| {
            v["https"] = serde_json::json!({
                "aliases": "serve", "hsts_max_age": 0, "hsts_include_subdomains": true
            });
        });
        let text = String::from_utf8(site_xml(&r).unwrap()).unwrap();
        assert!(
            text.contains(
                "<domains aliases=\"serve\" hsts-max-age=\"0\" hsts-include-subdomains=\"true\">"
            ),
            "{text}"
        );
        let policy = SitePolicy::read(text.as_bytes());
        assert_eq!(policy.alias_policy, Aliases::Serve);
        assert_eq!(policy.hsts.as_deref(), Some("max-age=0; includeSubDomains"));
        assert_eq!(policy.main.as_deref(), Some("s1.example.fr"));
    }

    #[test]
    fn too_large_is_refused() {
        let para = "x".repeat(4_000);
        let r = record(|v| {
            let blocks: Vec<_> = (0..50).map(|_| serde_json::json!({"p": para})).collect();
            let sections: Vec<_> = (0..6)
                .map(|_| serde_json::json!({"blocks": blocks}))
                .collect();
            v["pages"][0]["sections"] = sections.into();
        });
        assert!(matches!(site_xml(&r), Err(XmlWriteError::TooLarge { .. })));
    }

    #[test]
    fn sample_records_give_the_committed_sample_xml_byte_for_byte() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let rules = Rules::from_stylesheets(&repo.join("stylesheets")).unwrap();
        let lines = std::fs::read_to_string(repo.join("sample-sites/records.jsonl")).unwrap();
        let mut ids = Vec::new();
        for (n, line) in lines.lines().enumerate() {
            let mut r =
                parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
            r.check(&rules)
                .unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
            let rel = crate::site::site_path(&r.id);
            let committed = std::fs::read(repo.join("sample-sites").join(&rel)).unwrap();
            let written = site_xml(&r).unwrap();
            assert!(
                written == committed,
                "{rel} differs from what its record gives"
            );
            ids.push(rel);
        }
        ids.sort();
        assert_eq!(
            ids,
            crate::site::list_site_files(&repo.join("sample-sites")).unwrap()
        );
    }
}
