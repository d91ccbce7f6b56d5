/* Facts of a compiled stylesheet, read with the system headers. */
#include "shim.h"

/* The xsl:output settings of a compiled stylesheet (after imports are resolved). */
void vitrine_style_output(xsltStylesheetPtr style, const xmlChar **method,
                          const xmlChar **media_type, const xmlChar **encoding) {
    const xmlChar *m = NULL, *t = NULL, *e = NULL;
    /* XSLT_GET_IMPORT_PTR walks the import precedence chain like the serialiser does. */
    XSLT_GET_IMPORT_PTR(m, style, method);
    XSLT_GET_IMPORT_PTR(t, style, mediaType);
    XSLT_GET_IMPORT_PTR(e, style, encoding);
    *method = m;
    *media_type = t;
    *encoding = e;
}

/* The effective xsl:output indent of a stylesheet (-1: not set). */
int vitrine_style_indent(xsltStylesheetPtr style) {
    int indent;
    XSLT_GET_IMPORT_INT(indent, style, indent);
    return indent;
}

/* The URL of the module a stylesheet is processing (for includes, libxslt swaps style->doc
 * to the included module while it processes it), or NULL. */
const char *vitrine_style_doc_url(void *style) {
    xsltStylesheetPtr s = (xsltStylesheetPtr) style;
    if (s == NULL || s->doc == NULL)
        return NULL;
    return (const char *) s->doc->URL;
}

/* The errors libxslt counted while compiling a stylesheet. Read here, with the installed
 * headers: the libxslt crate's Rust bindings were generated from another version. */
int vitrine_style_errors(xsltStylesheetPtr style) {
    return style != NULL ? style->errors : 1;
}
