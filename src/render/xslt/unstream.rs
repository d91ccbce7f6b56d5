//! Which XPath expressions of a stylesheet are wrapped in parentheses before libxslt compiles
//! them, so that libxml2 evaluates them step by step instead of by streaming.
//!
//! libxml2 2.9 (`xmlXPathTryStreamCompile`, 2.9.14) compiles any expression without `[`, `(`
//! or `@` into a streaming pattern, and evaluates it (`xmlXPathRunStreamEval`) by walking
//! every node of the document, or of the context node's subtree, down to the path's depth,
//! whatever their names. `/site/contact/address/street` visits every child and grandchild of
//! every child of `site`: all the pages and their sections, to find one street. Step by step,
//! the same path reads the children of `site`, of `contact` and of `address`. `(path)` is the
//! same expression (a parenthesised primary expression compiles to the same steps) that the
//! streaming compiler refuses.
//!
//! Only paths of two steps or more are wrapped. For one step (`item`, `.`, `/site`) the walk
//! visits exactly what the child axis would, and the stream is the cheaper of the two:
//! callgrind of `vitrine render --all` on 200 sites with the reference theme counted 792.9 M
//! instructions as written, 779.5 M with its three multi-step paths wrapped, and 784.3 M with
//! every streamable expression wrapped. Paths with `//` are left alone: both ways visit the
//! whole subtree.
//!
//! The rewrite changes no result: the differential test of `tests.rs`
//! (`unstreamed_paths_match_libxml2_on_every_sample_page`) renders every sample page with
//! and without it.

/// Attributes of XSLT instructions that hold an expression (not a pattern) evaluated against
/// the source document: `select` (for-each, value-of, apply-templates, copy-of, variable,
/// param, with-param, sort), `test` (if, when) and `use` (key).
const EXPRESSION_ATTRIBUTES: &[&str] = &["select", "test", "use"];

/// The new value of attribute `attribute` of an XSLT instruction whose value is `value`, when
/// it is a path libxml2 would stream over more than one level.
pub(super) fn unstream(attribute: &str, value: &str) -> Option<String> {
    if !EXPRESSION_ATTRIBUTES.contains(&attribute) {
        return None;
    }
    let expr = value.trim();
    // What libxml2 does not stream ([, (, @), what is not a pattern at all ($, literals), the
    // long axis form libxml2 refuses to stream, and descendant paths.
    if expr.is_empty()
        || expr.contains(['[', '(', '@', '$', '\'', '"'])
        || expr.contains("::")
        || expr.contains("//")
    {
        return None;
    }
    let multi_step = expr
        .split('|')
        .any(|branch| branch.trim().trim_start_matches('/').contains('/'));
    multi_step.then(|| format!("({expr})"))
}

#[cfg(test)]
mod tests {
    use super::unstream;

    #[test]
    fn wraps_paths_of_two_steps_or_more() {
        for (value, expected) in [
            ("/site/pages/page", "(/site/pages/page)"),
            (
                "/site/contact/address/street",
                "(/site/contact/address/street)",
            ),
            ("contact/address", "(contact/address)"),
            (" hours/day ", "(hours/day)"),
            ("/site/hours/day/open", "(/site/hours/day/open)"),
            ("item | a/b", "(item | a/b)"),
            ("ns:a/ns:b", "(ns:a/ns:b)"),
            ("../name", "(../name)"),
            ("a/*", "(a/*)"),
        ] {
            assert_eq!(
                unstream("select", value).as_deref(),
                Some(expected),
                "{value}"
            );
        }
        assert_eq!(
            unstream("test", "/site/identity/logo").as_deref(),
            Some("(/site/identity/logo)")
        );
        assert_eq!(unstream("use", "owner/id").as_deref(), Some("(owner/id)"));
    }

    #[test]
    fn leaves_what_libxml2_does_not_stream_or_walks_no_deeper() {
        for value in [
            // One step: the stream walks what the child axis would.
            ".",
            "item",
            "/site",
            "/",
            "*",
            "item | photo",
            // Not streamed by libxml2.
            "/site/pages/page[1]",
            "count(/site/pages/page)",
            "/site/contact/phone/@number",
            "$current/section",
            "'a/b'",
            "\"a/b\"",
            "child::a/child::b",
            // Descendants: the whole subtree either way.
            "//photo",
            "/site//photo",
            // Already wrapped.
            "(/site/pages/page)",
            "",
            "   ",
        ] {
            assert_eq!(unstream("select", value), None, "{value:?}");
        }
    }

    #[test]
    fn leaves_patterns_and_other_attributes() {
        // match, count and from are patterns: "(a/b)" is not a valid pattern.
        for attribute in ["match", "count", "from", "name", "mode", "href", "value"] {
            assert_eq!(unstream(attribute, "/site/pages/page"), None, "{attribute}");
        }
    }
}
