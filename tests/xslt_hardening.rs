//! Hostile themes against the real server: runaway transforms are stopped by their budgets
//! and answered 500 while `/healthz` and the other sites keep answering.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

const HEAD: &str = r#"<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="html"/>"#;

/// (sample site, theme name, templates): each theme would run for centuries, or take
/// gigabytes, without the transform budgets.
const RUNAWAYS: &[(&str, &str, &str)] = &[
    (
        "boulangerie-martin",
        "infinite-recursion",
        r#"<xsl:template match="/"><xsl:call-template name="f"/></xsl:template>
           <xsl:template name="f"><x/><xsl:call-template name="f"/></xsl:template>"#,
    ),
    (
        "plomberie-leroy",
        "exponential-recursion",
        r#"<xsl:template match="/"><xsl:call-template name="f"><xsl:with-param name="n" select="60"/></xsl:call-template></xsl:template>
           <xsl:template name="f"><xsl:param name="n"/><xsl:if test="$n &gt; 0">
             <xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
             <xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
           </xsl:if></xsl:template>"#,
    ),
    (
        "garage-bernard",
        "huge-for-each",
        r#"<xsl:template match="/"><xsl:for-each select="//node()"><xsl:for-each select="//node()"><xsl:for-each select="//node()"><xsl:for-each select="//node()"><p><xsl:value-of select="name()"/></p></xsl:for-each></xsl:for-each></xsl:for-each></xsl:for-each></xsl:template>"#,
    ),
    (
        "fleurs-et-sens",
        "string-doubling",
        r#"<xsl:template match="/"><xsl:call-template name="d"><xsl:with-param name="s" select="string(/)"/><xsl:with-param name="n" select="40"/></xsl:call-template></xsl:template>
           <xsl:template name="d"><xsl:param name="s"/><xsl:param name="n"/><xsl:choose>
             <xsl:when test="$n &gt; 0"><xsl:call-template name="d"><xsl:with-param name="s" select="concat($s, $s)"/><xsl:with-param name="n" select="$n - 1"/></xsl:call-template></xsl:when>
             <xsl:otherwise><p><xsl:value-of select="$s"/></p></xsl:otherwise>
           </xsl:choose></xsl:template>"#,
    ),
    (
        "kine-rousseau",
        "deep-result-tree",
        r#"<xsl:template match="/"><xsl:call-template name="f"><xsl:with-param name="n" select="1000000"/></xsl:call-template></xsl:template>
           <xsl:template name="f"><xsl:param name="n"/><xsl:if test="$n &gt; 0"><div><xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template></div></xsl:if></xsl:template>"#,
    ),
];

#[test]
fn runaway_themes_get_500_while_healthz_and_other_sites_keep_answering() {
    let fixture = Fixture::new();
    let mut runaway_domains = Vec::new();
    for (site, theme, body) in RUNAWAYS {
        let xsl = format!("{HEAD}{body}</xsl:stylesheet>");
        runaway_domains.push(fixture.use_theme(site, theme, &xsl));
        // The 500s below must come from the transform, not from a theme that did not load.
        vitrine::render::Theme::compile(&fixture.stylesheets(), theme)
            .unwrap_or_else(|e| panic!("{theme} must compile: {e}"));
    }
    let (_, healthy) = fixture.site("cabinet-moreau-avocats");
    // One render thread: the runaways then keep one core busy for a few seconds, not both
    // (other tests of this binary measure timing).
    let mut config = ServerConfig::new(&fixture);
    config.render_threads = 1;
    let server = Arc::new(Server::start(config));
    let reference = server.get(&healthy, "/");
    assert_eq!(reference.status, 200);

    // Every runaway at once: five renders queued on the one render thread.
    let runaways: Vec<_> = runaway_domains
        .iter()
        .map(|domain| {
            let server = server.clone();
            let domain = domain.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                let status = server.get(&domain, "/").status;
                (domain, status, start.elapsed())
            })
        })
        .collect();

    // Meanwhile, /healthz and the healthy site keep answering.
    let mut rounds_during = 0;
    while runaways.iter().any(|h| !h.is_finished()) {
        assert_eq!(server.get("any.example", "/healthz").status, 200);
        let page = server.get(&healthy, "/");
        assert_eq!(page.status, 200);
        assert_eq!(page.body, reference.body);
        rounds_during += 1;
    }
    assert!(
        rounds_during > 0,
        "the checks ran while runaways were in flight"
    );

    for handle in runaways {
        let (domain, status, elapsed) = handle.join().unwrap();
        assert_eq!(status, 500, "{domain}");
        // Budgets of at most a second of CPU each, five of them queued on one thread, on a
        // shared machine: generous, but finite (without the budgets these never end, or
        // end with the process killed for memory).
        assert!(
            elapsed < Duration::from_secs(20),
            "{domain} took {elapsed:?}"
        );
    }

    // And after: the server is whole.
    assert_eq!(server.get("any.example", "/healthz").status, 200);
    assert_eq!(server.get(&healthy, "/").body, reference.body);
    for domain in &runaway_domains {
        assert_eq!(server.get(domain, "/").status, 500, "{domain}");
    }
}
