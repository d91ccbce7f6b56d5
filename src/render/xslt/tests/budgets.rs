//! Bounded diagnostics and the transform budgets.

use super::*;

/// A namespace error quoting a 40 KB name, 20,000 more namespace errors, then a fatal
/// one.
fn noisy_document() -> String {
    let mut xml = format!("<r><q:{}/>", "n".repeat(40_000));
    for _ in 0..20_000 {
        xml.push_str("<p:e/>");
    }
    xml.push_str("</wrong>");
    xml
}

/// Hostile input yields a bounded error (first messages, each cut, then a count), and
/// nothing reaches stderr. Checked in child processes so that stderr can be captured;
/// the control child parses the same document with libxml2's default handlers and
/// writes megabytes to stderr.
#[test]
fn error_output_is_bounded() {
    const MODE: &str = "VITRINE_NOISY_CHILD";
    // What one error may weigh: the kept messages, their separators, the summary.
    let bound = MAX_MESSAGES * (MAX_MESSAGE_BYTES + 5) + 200;
    match std::env::var(MODE).as_deref() {
        Ok("control") => {
            let xml = noisy_document();
            // SAFETY: parses a buffer that outlives the call with libxml2's defaults
            // (no init(): default error handlers); frees the result.
            unsafe {
                let doc = ffi::xmlReadMemory(
                    xml.as_ptr().cast(),
                    xml.len() as c_int,
                    c"noisy.xml".as_ptr(),
                    ptr::null(),
                    0,
                );
                if !doc.is_null() {
                    ffi::xmlFreeDoc(doc);
                }
            }
        }
        Ok(_) => {
            let err = parse_document(noisy_document().as_bytes(), "noisy.xml")
                .err()
                .unwrap()
                .to_string();
            // Without the cut, the first message alone would be 40 KB.
            assert!(err.len() < bound, "{} bytes: {err}", err.len());
            assert!(err.contains("Namespace prefix q on nnnn"), "{err}");
            assert!(
                err.contains("Namespace prefix p on e is not defined"),
                "{err}"
            );
            assert!(err.contains("more errors suppressed"), "{err}");
            let dir = tempfile::tempdir().unwrap();
            let style = compile_in(
                dir.path(),
                &format!(
                    r#"{HEAD}<xsl:template match="/"><xsl:for-each select="//*"><xsl:message>element <xsl:value-of select="name()"/></xsl:message></xsl:for-each><xsl:message terminate="yes">stop</xsl:message></xsl:template></xsl:stylesheet>"#
                ),
                &[],
            )
            .unwrap();
            let xml = format!("<r>{}</r>", "<e/>".repeat(20_000));
            let err = apply(&style, &xml).unwrap_err().to_string();
            assert!(err.len() < bound, "{} bytes: {err}", err.len());
            assert!(err.contains("element e"), "{err}");
            assert!(err.contains("more errors suppressed"), "{err}");
        }
        Err(_) => {
            let quiet = run_child(
                "budgets::error_output_is_bounded",
                &[(MODE, "vitrine".as_ref())],
            );
            assert!(
                quiet.stderr.is_empty(),
                "nothing escapes to stderr: {}",
                String::from_utf8_lossy(&quiet.stderr)
            );
            let control = run_child(
                "budgets::error_output_is_bounded",
                &[(MODE, "control".as_ref())],
            );
            // libxml2 2.15 caps what its default handler writes (about 63 KB here): the
            // control still shows the flood that Vitrine's handlers keep off stderr.
            let flood = if Versions::loaded().libxml2 >= 21500 {
                50_000
            } else {
                1_000_000
            };
            assert!(
                control.stderr.len() > flood,
                "libxml2's default handler writes every error: {} bytes",
                control.stderr.len()
            );
        }
    }
}

/// Runaway themes for the budget tests: (name, templates). `$n` of the recursive ones
/// would take centuries.
pub(crate) const RUNAWAYS: &[(&str, &str)] = &[
    (
        "infinite recursion",
        r#"<xsl:template match="/"><xsl:call-template name="f"/></xsl:template>
           <xsl:template name="f"><x/><xsl:call-template name="f"/></xsl:template>"#,
    ),
    (
        "exponential recursion",
        r#"<xsl:template match="/"><xsl:call-template name="f"><xsl:with-param name="n" select="60"/></xsl:call-template></xsl:template>
           <xsl:template name="f"><xsl:param name="n"/><xsl:if test="$n &gt; 0">
             <xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
             <xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
           </xsl:if></xsl:template>"#,
    ),
    (
        "nested for-each over every node",
        r#"<xsl:template match="/"><xsl:for-each select="//node()"><xsl:for-each select="//node()"><xsl:for-each select="//node()"><xsl:for-each select="//node()"><xsl:for-each select="//node()"><y><xsl:value-of select="name()"/></y></xsl:for-each></xsl:for-each></xsl:for-each></xsl:for-each></xsl:for-each></xsl:template>"#,
    ),
    (
        "string doubling",
        r#"<xsl:template match="/"><xsl:call-template name="d"><xsl:with-param name="s" select="'0123456789abcdef'"/><xsl:with-param name="n" select="40"/></xsl:call-template></xsl:template>
           <xsl:template name="d"><xsl:param name="s"/><xsl:param name="n"/><xsl:choose>
             <xsl:when test="$n &gt; 0"><xsl:call-template name="d"><xsl:with-param name="s" select="concat($s, $s)"/><xsl:with-param name="n" select="$n - 1"/></xsl:call-template></xsl:when>
             <xsl:otherwise><xsl:value-of select="string-length($s)"/></xsl:otherwise>
           </xsl:choose></xsl:template>"#,
    ),
    (
        "deep result tree",
        r#"<xsl:template match="/"><xsl:call-template name="f"><xsl:with-param name="n" select="1000000"/></xsl:call-template></xsl:template>
           <xsl:template name="f"><xsl:param name="n"/><xsl:if test="$n &gt; 0"><d><xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template></d></xsl:if></xsl:template>"#,
    ),
];

fn runaway(name: &str) -> Stylesheet {
    let (_, body) = RUNAWAYS.iter().find(|(n, _)| *n == name).unwrap();
    let dir = tempfile::tempdir().unwrap();
    compile_in(dir.path(), &format!("{HEAD}{body}</xsl:stylesheet>"), &[]).unwrap()
}

fn run_with(style: &Stylesheet, limits: Limits) -> String {
    let doc = parse_document(
        &[b"<r>".as_slice(), &b"<a/>".repeat(50), b"</r>"].concat(),
        "t.xml",
    )
    .unwrap();
    transform(style, doc, &[], &[], limits)
        .unwrap_err()
        .to_string()
}

/// Each budget stops the runaway it is there for; the others are lifted so the test
/// shows which one bites (and would hang, or exhaust memory, without it).
#[test]
fn each_budget_stops_its_runaway() {
    let lifted = Limits {
        max_depth: 100_000,
        op_limit: 0,
        xpath_op_limit: 0,
        max_memory: 1 << 30,
        max_time: Duration::from_secs(3600),
        ..Limits::default()
    };
    let cases = [
        (
            "infinite recursion",
            Limits {
                max_depth: 250,
                ..lifted
            },
            "infinite template recursion",
        ),
        (
            "deep result tree",
            Limits {
                max_depth: 250,
                ..lifted
            },
            "infinite template recursion",
        ),
        (
            "exponential recursion",
            Limits {
                op_limit: 100_000,
                ..lifted
            },
            "xsltApplySequenceConstructor: Operation limit exceeded",
        ),
        (
            "nested for-each over every node",
            Limits {
                xpath_op_limit: 100_000,
                ..lifted
            },
            "Operation limit exceeded; runtime error: file",
        ),
        (
            "string doubling",
            Limits {
                max_memory: 16 << 20,
                ..lifted
            },
            "more than 16 MiB (memory budget)",
        ),
        (
            "exponential recursion",
            Limits {
                max_time: Duration::from_millis(200),
                ..lifted
            },
            "more than 200ms of CPU time (time budget)",
        ),
        (
            "nested for-each over every node",
            Limits {
                max_time: Duration::from_millis(200),
                ..lifted
            },
            "more than 200ms of CPU time (time budget)",
        ),
    ];
    for (name, limits, expected) in cases {
        let err = run_with(&runaway(name), limits);
        assert!(err.contains(expected), "{name}: {err}");
    }
}

/// With the default limits every runaway fails (which budget bites first depends on the
/// machine's speed), and a normal transform still succeeds on the same thread afterwards.
#[test]
fn default_limits_stop_every_runaway() {
    for (name, _) in RUNAWAYS {
        let err = run_with(&runaway(name), Limits::default());
        assert!(
            ["recursion", "limit exceeded", "budget"]
                .iter()
                .any(|w| err.contains(w)),
            "{name}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let fine = compile_in(
        dir.path(),
        &format!(r#"{HEAD}<xsl:output method="text"/><xsl:template match="/">ok <xsl:value-of select="count(//a)"/></xsl:template></xsl:stylesheet>"#),
        &[],
    )
    .unwrap();
    assert_eq!(apply(&fine, "<r><a/><a/></r>").unwrap(), "ok 2");
}

/// An allocation that alone would pass the hard cap (twice the budget) is refused:
/// libxml2 sees an out-of-memory error, the transform fails, and the thread renders
/// normally afterwards.
#[test]
fn one_allocation_past_the_hard_cap_is_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let style = compile_in(
        dir.path(),
        &format!(
            r#"{HEAD}<xsl:output method="text"/><xsl:template match="/"><xsl:value-of select="string-length(concat(/r, /r, /r))"/></xsl:template></xsl:stylesheet>"#
        ),
        &[],
    )
    .unwrap();
    let text = "x".repeat(900_000);
    let limits = Limits {
        max_memory: 256 << 10,
        ..Limits::default()
    };
    let doc = parse_document(format!("<r>{text}</r>").as_bytes(), "big.xml").unwrap();
    let err = transform(&style, doc, &[], &[], limits)
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than 256 KiB (memory budget)"), "{err}");
    let doc = parse_document(format!("<r>{text}</r>").as_bytes(), "big.xml").unwrap();
    let out = transform(&style, doc, &[], &[], Limits::default()).unwrap();
    assert_eq!(&out[..], b"2700000");
}
