//! A site's serving policy, read from the head of its XML (`<domains>` and its attributes)
//! without a full parse: which domain is the main one, whether the others redirect to it,
//! and the HSTS header its HTTPS pages carry. Read on every page request, so it stops at
//! `</domains>`, which the schema puts first in `<site>`.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::Host;

/// What the other domains of a site do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Aliases {
    /// 301 to the same path on the main domain (the default).
    #[default]
    Redirect,
    /// Answer the same pages (which carry a canonical link to the main domain).
    Serve,
}

/// A site's policy, as [`SitePolicy::read`] finds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SitePolicy {
    /// The domain marked `main="true"`, if the head names one.
    pub main: Option<String>,
    /// The other declared domains.
    pub aliases: Vec<String>,
    /// What those do.
    pub alias_policy: Aliases,
    /// The `Strict-Transport-Security` value for HTTPS answers, if the site opted in.
    pub hsts: Option<String>,
}

impl SitePolicy {
    /// The policy of a site file's bytes. A head that is not the schema's shape gives the
    /// defaults without a main domain, so nothing redirects: the page step reports the
    /// file's real fault when it parses it.
    pub fn read(xml: &[u8]) -> SitePolicy {
        read_head(xml).unwrap_or_default()
    }

    /// The main domain `host` should be sent to, if it is a declared alias of a site whose
    /// aliases redirect. A host mapped to the file without being declared in it (an
    /// operator's `domains set`) is served as it is.
    pub fn redirect_for(&self, host: &Host) -> Option<&str> {
        let main = self.main.as_deref()?;
        (self.alias_policy == Aliases::Redirect && self.aliases.iter().any(|a| a == host.as_str()))
            .then_some(main)
    }
}

fn read_head(xml: &[u8]) -> Option<SitePolicy> {
    let mut reader = Reader::from_reader(xml);
    let mut policy = SitePolicy::default();
    let mut in_domains = false;
    // Some(is_main) while inside a <domain>.
    let mut domain: Option<bool> = None;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => match e.local_name().as_ref() {
                "site" if !in_domains => {}
                "domains" if !in_domains => {
                    in_domains = true;
                    domains_attributes(&e, &mut policy)?;
                }
                "domain" if in_domains => {
                    domain = Some(attribute(&e, "main").as_deref() == Some("true"));
                }
                _ => return None,
            },
            Event::Text(t) => {
                if let Some(is_main) = domain {
                    let name = t.as_ref().trim().to_ascii_lowercase();
                    if is_main {
                        policy.main = Some(name);
                    } else {
                        policy.aliases.push(name);
                    }
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                "domain" => domain = None,
                "domains" => return Some(policy),
                _ => return None,
            },
            Event::Eof | Event::Empty(_) => return None,
            _ => {}
        }
    }
}

fn domains_attributes(e: &BytesStart<'_>, policy: &mut SitePolicy) -> Option<()> {
    policy.alias_policy = match attribute(e, "aliases").as_deref() {
        None | Some("redirect") => Aliases::Redirect,
        Some("serve") => Aliases::Serve,
        Some(_) => return None,
    };
    if let Some(age) = attribute(e, "hsts-max-age") {
        let age: u32 = age.parse().ok()?;
        let sub = attribute(e, "hsts-include-subdomains").as_deref() == Some("true");
        policy.hsts = Some(if sub {
            format!("max-age={age}; includeSubDomains")
        } else {
            format!("max-age={age}")
        });
    }
    Some(())
}

fn attribute(e: &BytesStart<'_>, name: &str) -> Option<String> {
    let a = e.try_get_attribute(name).ok()??;
    Some(
        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .ok()?
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> Host {
        Host::parse(s.as_bytes()).unwrap()
    }

    const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="classic.xsl"?>
<site id="s" lang="fr">
  <domains>
    <domain>www.s.fr</domain>
    <domain main="true">s.fr</domain>
    <domain main="false">s-old.com</domain>
  </domains>
  <identity><name>S</name></identity>
</site>"#;

    #[test]
    fn aliases_redirect_by_default_and_hsts_is_off() {
        let p = SitePolicy::read(HEAD.as_bytes());
        assert_eq!(p.main.as_deref(), Some("s.fr"));
        assert_eq!(p.aliases, ["www.s.fr", "s-old.com"]);
        assert_eq!(p.hsts, None);
        assert_eq!(p.redirect_for(&host("www.s.fr")), Some("s.fr"));
        assert_eq!(p.redirect_for(&host("s-old.com")), Some("s.fr"));
        assert_eq!(p.redirect_for(&host("s.fr")), None);
        // Mapped by an operator but not declared: served as is.
        assert_eq!(p.redirect_for(&host("other.fr")), None);
    }

    #[test]
    fn serve_and_hsts_attributes() {
        let xml = HEAD.replace(
            "<domains>",
            r#"<domains aliases="serve" hsts-max-age="31536000" hsts-include-subdomains="true">"#,
        );
        let p = SitePolicy::read(xml.as_bytes());
        assert_eq!(p.alias_policy, Aliases::Serve);
        assert_eq!(p.redirect_for(&host("www.s.fr")), None);
        assert_eq!(
            p.hsts.as_deref(),
            Some("max-age=31536000; includeSubDomains")
        );
        let xml = HEAD.replace("<domains>", r#"<domains hsts-max-age="0">"#);
        assert_eq!(
            SitePolicy::read(xml.as_bytes()).hsts.as_deref(),
            Some("max-age=0")
        );
    }

    #[test]
    fn a_head_of_another_shape_redirects_nothing() {
        for xml in [
            "",
            "<site><identity/><domains><domain main=\"true\">s.fr</domain></domains></site>",
            "<site><domains aliases=\"sometimes\"><domain>www.s.fr</domain></domains></site>",
            "<site><domains hsts-max-age=\"-1\"></domains></site>",
            "<site><domains><domain>www.s.fr",
        ] {
            let p = SitePolicy::read(xml.as_bytes());
            assert_eq!(p, SitePolicy::default(), "{xml}");
            assert_eq!(p.redirect_for(&host("www.s.fr")), None);
        }
    }
}
