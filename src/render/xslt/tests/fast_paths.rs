//! Differential tests of the fast paths: each renders the same pages with and without its
//! fast path and compares the bytes (skipped, saying so, where the path is not proven).

use super::*;

/// Renders with the HTML writer and with libxml2's serialiser (a second compile of the
/// same stylesheet with the writer turned off), for comparison.
fn both_serialisers(
    path: &Path,
    root: &Path,
    xml: &[u8],
    params: &[(&str, &str)],
) -> (Bytes, Bytes) {
    let fast = Stylesheet::compile(path, root).unwrap();
    assert!(
        fast.html_meta_encoding.is_some(),
        "{path:?} should use the HTML writer"
    );
    let mut slow = Stylesheet::compile(path, root).unwrap();
    slow.html_meta_encoding = None;
    let run = |style: &Stylesheet| {
        let doc = parse_document(xml, "t.xml").unwrap();
        transform(style, doc, params, &[root], Limits::default()).unwrap()
    };
    (run(&fast), run(&slow))
}

#[test]
fn html_writer_matches_libxml2_on_every_sample_page() {
    if !engine::proven_here(engine::FastPath::HtmlWriter) {
        return;
    }
    let pages = sample_pages();
    for p in &pages {
        let params = [
            ("page", p.id.as_str()),
            ("host", "example.fr"),
            ("status", p.status),
        ];
        let (fast, slow) = both_serialisers(
            &repo_stylesheets().join(format!("{}.xsl", p.theme)),
            &repo_stylesheets(),
            &p.xml,
            &params,
        );
        p.assert_same(&fast, &slow, "");
    }
    assert!(pages.len() >= 60, "{} pages compared", pages.len());
}

/// A stylesheet that puts its two parameters everywhere the HTML serialiser treats text
/// differently: text, URI and plain attributes, raw-text elements, void elements, boolean
/// attributes, empty elements with and without end tags. (disable-output-escaping is
/// refused by the stylesheet lint, so it cannot be part of it.)
const HOSTILE_THEME: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat"/>
<xsl:param name="t"/><xsl:param name="a"/>
<xsl:template match="/"><html lang="fr"><head><title><xsl:value-of select="$t"/></title>
<script><xsl:value-of select="$t"/></script><style><xsl:value-of select="$t"/></style>
<SCRIPT><xsl:value-of select="$t"/></SCRIPT></head><body>
<p><xsl:value-of select="$t"/></p><p/><div/><br/><hr/><img src="{$a}" alt="{$a}"/>
<a href="{$a}" name="{$a}" title="{$a}"><xsl:value-of select="$a"/></a><span name="{$a}"/>
<form action="{$a}"><input type="checkbox" checked="checked" disabled="{$a}" value="{$a}"/>
<select><option selected="selected" value="{$a}">x</option></select></form>
<Unknown-Tag data-x="{$a}"/>
<xsl:comment><xsl:value-of select="translate($t, '-', '_')"/></xsl:comment>
<xsl:processing-instruction name="pi">x</xsl:processing-instruction>
<td/><li/><textarea><xsl:value-of select="$t"/></textarea></body></html></xsl:template>
</xsl:stylesheet>"#;

#[test]
fn html_writer_matches_libxml2_on_hostile_text() {
    if !engine::proven_here(engine::FastPath::HtmlWriter) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "hostile.xsl", HOSTILE_THEME);
    for v in [
        "",
        "plain",
        "  leading blanks and spaces",
        "<b>&amp; \"double\" 'single' both\"'",
        "&{ssi} & { } &{no end",
        "<!-- ssi --> <!-- open",
        "ctrl \u{1}\u{8}\u{b}\u{c}\u{1f}\t\n\r del\u{7f}",
        "é ü ß 中文 😀 עברית ‏rtl",
        "https://exemple.fr/a b?c=d&e=f#g%20h",
        "]]> </script> </style>",
    ] {
        let (fast, slow) = both_serialisers(&path, dir.path(), b"<r/>", &[("t", v), ("a", v)]);
        assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&slow),
            "{v:?}"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    #[test]
    fn html_writer_matches_libxml2_on_any_text(t in "\\PC{0,40}|[<>&{}!\\-\"' \t\r\n\u{1}-\u{1f}a-z]{0,40}", a in "\\PC{0,40}|[<>&{}!\\-\"' \t\r\n\u{1}-\u{1f}a-z%]{0,40}") {
        if !engine::proven_here(engine::FastPath::HtmlWriter) {
            return Ok(());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "hostile.xsl", HOSTILE_THEME);
        let (fast, slow) =
            both_serialisers(&path, dir.path(), b"<r/>", &[("t", &t), ("a", &a)]);
        proptest::prop_assert_eq!(fast, slow);
    }
}

/// Renders with the faster XPath paths and with libxml2's and libxslt's own (a second
/// compile of the same stylesheet with them turned off), for comparison.
fn both_xpaths(
    path: &Path,
    root: &Path,
    xml: &[u8],
    params: &[(&str, &str)],
) -> (Result<Bytes, String>, Result<Bytes, String>) {
    let fast = Stylesheet::compile(path, root).unwrap();
    let mut slow = Stylesheet::compile(path, root).unwrap();
    slow.fast_xpath = false;
    let run = |style: &Stylesheet| {
        let doc = parse_document(xml, "t.xml").unwrap();
        let before = xpath_fast::CALLS.with(|c| c.get());
        let out =
            transform(style, doc, params, &[root], Limits::default()).map_err(|e| e.to_string());
        (out, xpath_fast::CALLS.with(|c| c.get()) - before)
    };
    let ((fast, fast_calls), (slow, slow_calls)) = (run(&fast), run(&slow));
    // Every caller's stylesheet calls translate(): the comparison is not vacuous.
    assert!(fast_calls > 0, "the fast translate() never ran");
    assert_eq!(
        slow_calls, 0,
        "the fast translate() ran with fast_xpath off"
    );
    (fast, slow)
}

#[test]
fn fast_xpath_matches_libxml2_on_every_sample_page() {
    if !engine::proven_here(engine::FastPath::XPathFunctions) {
        return;
    }
    let pages = sample_pages();
    for p in &pages {
        for today in ["", "2026-01-01", "2030-12-31"] {
            let params = [
                ("page", p.id.as_str()),
                ("host", "example.fr"),
                ("status", p.status),
                ("today", today),
            ];
            let (fast, slow) = both_xpaths(
                &repo_stylesheets().join(format!("{}.xsl", p.theme)),
                &repo_stylesheets(),
                &p.xml,
                &params,
            );
            p.assert_same(&fast.unwrap(), &slow.unwrap(), today);
        }
    }
    assert!(pages.len() >= 60, "{} pages compared", pages.len());
}

#[test]
fn unstreamed_paths_match_libxml2_on_every_sample_page() {
    if !engine::proven_here(engine::FastPath::Unstream) {
        return;
    }
    let pages = sample_pages();
    let mut styles = std::collections::BTreeMap::new();
    for p in &pages {
        let (wrapped, plain) = styles.entry(p.theme.clone()).or_insert_with(|| {
            let path = repo_stylesheets().join(format!("{}.xsl", p.theme));
            let wrapped = Stylesheet::compile(&path, &repo_stylesheets()).unwrap();
            let plain = Stylesheet::compile_with(
                &path,
                &repo_stylesheets(),
                engine().active.without(FastPath::Unstream),
            )
            .unwrap();
            // The product themes (and the modules they include) have such paths: the
            // comparison is not vacuous.
            assert!(wrapped.unstreamed > 0, "{}: nothing wrapped", p.theme);
            assert_eq!(plain.unstreamed, 0);
            (wrapped, plain)
        });
        let params = [
            ("page", p.id.as_str()),
            ("host", "example.fr"),
            ("status", p.status),
        ];
        let run = |style: &Stylesheet| {
            let doc = parse_document(&p.xml, "t.xml").unwrap();
            transform(
                style,
                doc,
                &params,
                &[&repo_stylesheets()],
                Limits::default(),
            )
            .unwrap()
        };
        p.assert_same(&run(wrapped), &run(plain), "");
    }
    assert!(pages.len() >= 60, "{} pages compared", pages.len());
}

#[test]
fn unstream_reaches_included_modules() {
    if !engine::proven_here(engine::FastPath::Unstream) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "part.xsl",
        r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:template name="street"><xsl:value-of select="/r/a/b"/></xsl:template></xsl:stylesheet>"#,
    );
    let main = write(
        dir.path(),
        "main.xsl",
        r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:include href="part.xsl"/><xsl:output method="text"/>
<xsl:template match="/"><xsl:for-each select="r/a"><xsl:value-of select="b"/></xsl:for-each>
<xsl:call-template name="street"/></xsl:template></xsl:stylesheet>"#,
    );
    let style = Stylesheet::compile(&main, dir.path()).unwrap();
    // r/a in the main file, /r/a/b in the included one; b is one step.
    assert_eq!(style.unstreamed, 2);
    let doc = parse_document(b"<r><a><b>1</b></a><a><b>2</b></a></r>", "t.xml").unwrap();
    let out = transform(&style, doc, &[], &[dir.path()], Limits::default()).unwrap();
    assert_eq!(&out[..], b"121");
}

/// Every replaced function with string, node-set, number, boolean and result-tree-fragment
/// arguments; global, local, shadowing and node-set variables; concat() beyond its
/// eight-argument fast buffer.
const XPATH_PROBE: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="xml" encoding="UTF-8"/>
<xsl:param name="a"/><xsl:param name="b"/><xsl:param name="c"/>
<xsl:variable name="g" select="concat($a, '|', $b)"/>
<xsl:variable name="n" select="/r/i"/>
<xsl:variable name="num" select="string-length($a) div 3"/>
<xsl:variable name="rtf"><x><xsl:value-of select="$c"/></x><y>!</y></xsl:variable>
<xsl:template match="/"><out>
<t><xsl:value-of select="translate($a, $b, $c)"/></t>
<t><xsl:value-of select="translate($a, concat($b, $c), $c)"/></t>
<t><xsl:value-of select="translate($n, $b, $c)"/></t>
<t><xsl:value-of select="translate($num, '.0123', $c)"/></t>
<t><xsl:value-of select="translate($rtf, $a, '')"/></t>
<t><xsl:value-of select="concat(contains($a, $b), contains($a, ''), contains('', $b), contains($n, $b), contains($g, '|'))"/></t>
<t><xsl:value-of select="substring-before($a, $b)"/>/<xsl:value-of select="substring-after($a, $b)"/></t>
<t><xsl:value-of select="substring-before($g, '|')"/>/<xsl:value-of select="substring-after($g, '|')"/></t>
<t><xsl:value-of select="substring-before($rtf, $c)"/>/<xsl:value-of select="substring-after($n, $c)"/>/<xsl:value-of select="substring-after($a, '')"/></t>
<t><xsl:value-of select="concat($a, $b)"/></t>
<t><xsl:value-of select="concat($a, $b, $c, $num, true(), $n, $rtf, $g, $a, $b, $c)"/></t>
<t><xsl:value-of select="string-length(concat($g, $g, $g))"/></t>
<t><xsl:value-of select="substring($a, 2)"/>/<xsl:value-of select="substring($a, 2, 3)"/>/<xsl:value-of select="substring($a, 0.5, 2.5)"/>/<xsl:value-of select="substring($a, -1)"/></t>
<t><xsl:value-of select="substring($a, $num, 1 div 0)"/>/<xsl:value-of select="substring($a, 0 div 0)"/>/<xsl:value-of select="substring($n, string-length($b), string-length($c))"/>/<xsl:value-of select="substring($rtf, 1, -1 div 0)"/></t>
<t><xsl:value-of select="substring($g, 1 div $num)"/>/<xsl:value-of select="substring($a, 1.5, 1.5)"/>/<xsl:value-of select="substring($a, string-length($a))"/></t>
<t>[<xsl:value-of select="normalize-space($a)"/>][<xsl:value-of select="normalize-space($n)"/>][<xsl:value-of select="normalize-space(concat(' ', $b, '  ', $c, ' '))"/>]</t>
<xsl:call-template name="inner"><xsl:with-param name="a" select="$c"/></xsl:call-template>
</out></xsl:template>
<xsl:template name="inner"><xsl:param name="a"/><xsl:variable name="g" select="concat($a, $b)"/>
<i><xsl:value-of select="concat($a, '/', $g, '/', $num)"/></i>
<xsl:for-each select="$n"><xsl:variable name="here" select="."/><j><xsl:value-of select="translate($here, $a, $c)"/></j></xsl:for-each>
</xsl:template>
</xsl:stylesheet>"#;

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    #[test]
    fn fast_xpath_matches_libxml2_on_any_strings(
        a in "\\PC{0,24}|[ab|é€\u{2028}\"\\\\< \t\n-]{0,24}",
        b in "\\PC{0,6}|[ab|é€\u{2028}\"\\\\<-]{0,6}",
        c in "\\PC{0,6}|[xyé€😀]{0,6}",
    ) {
        if !engine::proven_here(engine::FastPath::XPathFunctions) {
            return Ok(());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "probe.xsl", XPATH_PROBE);
        let xml = format!("<r><i>{}</i><i>{}{}</i></r>", xml_text(&a), xml_text(&c), xml_text(&b));
        let (fast, slow) =
            both_xpaths(&path, dir.path(), xml.as_bytes(), &[("a", &a), ("b", &b), ("c", &c)]);
        proptest::prop_assert_eq!(fast.unwrap(), slow.unwrap());
    }
}

#[test]
fn fast_xpath_fails_like_libxml2() {
    if !engine::proven_here(engine::FastPath::XPathFunctions) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, expr) in [
        ("arity", "translate('a', 'b')"),
        ("arity2", "contains('a')"),
        ("arity3", "concat('a')"),
        ("unknown", "concat($nowhere, 'a')"),
    ] {
        let path = write(
            dir.path(),
            &format!("{name}.xsl"),
            &format!(
                r#"{HEAD}<xsl:template match="/"><o><xsl:value-of select="{expr}"/></o></xsl:template></xsl:stylesheet>"#
            ),
        );
        let Ok(fast) = Stylesheet::compile(&path, dir.path()) else {
            continue; // refused at compile time, whatever the XPath functions
        };
        let mut slow = Stylesheet::compile(&path, dir.path()).unwrap();
        slow.fast_xpath = false;
        let run = |style: &Stylesheet| {
            let doc = parse_document(b"<r/>", "t.xml").unwrap();
            transform(style, doc, &[], &[dir.path()], Limits::default()).is_err()
        };
        assert!(run(&fast), "{expr}: the fast path accepted it");
        assert!(run(&slow), "{expr}: libxml2 accepted it");
    }
}

#[test]
fn finds_libxslt_namespace_literal_and_shares_it() {
    if !engine::proven_here(engine::FastPath::NsIntern) {
        return;
    }
    init();
    let lit = XSLT_NS_LITERAL.load(Ordering::Acquire);
    assert!(!lit.is_null(), "libxslt's XSLT namespace literal not found");
    // SAFETY: a non-null literal is a NUL-terminated string in libxslt's read-only data.
    let text = unsafe { CStr::from_ptr(lit.cast()) };
    assert_eq!(text.to_bytes(), b"http://www.w3.org/1999/XSL/Transform");
    let style =
        Stylesheet::compile(&repo_stylesheets().join("light.xsl"), &repo_stylesheets()).unwrap();
    // SAFETY: the stylesheet is alive and its document's root element is an
    // xsl:stylesheet whose namespace declaration was interned at compile time.
    let href = unsafe {
        let root = ffi::xmlDocGetRootElement((*style.ptr.as_ptr()).doc);
        (*(*root).ns).href
    };
    assert_eq!(href, lit.cast_const());
    // Dropping gives the declaration its own copy back (a crash here would mean
    // xmlFreeNs freed the literal).
    drop(style);
}

/// Every sample page is the same in a render arena as without, and the arena is really
/// used: the site document is built in it, wholly.
#[test]
fn render_arenas_change_no_byte_of_any_sample_page() {
    if !engine::proven_here(engine::FastPath::Arena) {
        return;
    }
    let pages = sample_pages();
    for p in &pages {
        let style = Stylesheet::compile(
            &repo_stylesheets().join(format!("{}.xsl", p.theme)),
            &repo_stylesheets(),
        )
        .unwrap();
        let params = [
            ("page", p.id.as_str()),
            ("host", "example.fr"),
            ("status", p.status),
        ];
        let render = |in_arena: bool| {
            let doc = parse_document(&p.xml, "t.xml").unwrap();
            assert_eq!(doc.arena.is_some_and(|tag| tag.whole), in_arena);
            transform(&style, doc, &params, &[], Limits::default()).unwrap()
        };
        let plain = render(false);
        let arena = render_scope(|| render(true));
        p.assert_same(&arena, &plain, "in an arena");
    }
    assert!(pages.len() >= 60, "{} pages compared", pages.len());
}

/// A render that needs more than its arena slot goes on with mimalloc, and frees what it
/// allocated there (the trees are walked again); the output does not change.
#[test]
fn a_render_larger_than_its_arena_is_the_same() {
    if !engine::proven_here(engine::FastPath::Arena) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let style = compile_in(
        dir.path(),
        r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
        <xsl:output method="xml" indent="no"/>
        <xsl:template match="/"><out><xsl:for-each select="//i[position() &lt;= 60]">
          <xsl:copy-of select="/r"/></xsl:for-each><xsl:value-of select="count(//i)"/></out>
        </xsl:template></xsl:stylesheet>"#,
        &[],
    )
    .unwrap();
    let mut xml = String::from("<r>");
    for i in 0..2000 {
        xml.push_str(&format!("<i n=\"{i}\">{}</i>", "texte accentué ".repeat(6)));
    }
    xml.push_str("</r>");
    let limits = Limits {
        max_memory: 1 << 30,
        ..Limits::default()
    };
    let render = || {
        let doc = parse_document(xml.as_bytes(), "big.xml").unwrap();
        transform(&style, doc, &[], &[], limits).unwrap()
    };
    let plain = render();
    let arena = render_scope(|| {
        let out = render();
        assert!(!arena::whole(), "the render fitted in its slot");
        out
    });
    assert!(arena == plain, "{} / {} bytes", arena.len(), plain.len());
    // The next render of the thread is in its arena again.
    render_scope(|| {
        let doc = parse_document(b"<r/>", "small.xml").unwrap();
        assert!(doc.arena.is_some_and(|tag| tag.whole));
    });
}
