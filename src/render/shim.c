/*
 * C side of the libxslt/libxml2 binding (see xslt.rs, the only Rust module that uses it).
 *
 * Two things cannot be written safely in stable Rust:
 *  - libxml2/libxslt report errors through printf-style *variadic* callbacks; Rust cannot
 *    define a variadic function, so the trampoline below formats the message and hands a
 *    plain string to Rust;
 *  - the Rust bindings of the libxslt crate were generated from another libxslt version and
 *    their xsltTransformContext layout stops before `opLimit`; reading and writing struct
 *    fields here, compiled against the system headers, is always layout-correct.
 */
#include <stdarg.h>
#include <stdio.h>
#include <libxml/xpath.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/transform.h>
#include <libxslt/imports.h>
#include <libxml/parserInternals.h>

/* Implemented in Rust (xslt.rs): receives one formatted message. */
extern void vitrine_xml_message(void *ctx, const char *msg);

void vitrine_error_trampoline(void *ctx, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    vitrine_xml_message(ctx, buf);
}

/* Budgets of one transform: template/variable depth and instruction counts. */
void vitrine_ctxt_set_limits(xsltTransformContextPtr ctxt, int max_depth, int max_vars,
                             unsigned long op_limit, unsigned long xpath_op_limit) {
    ctxt->maxTemplateDepth = max_depth;
    ctxt->maxTemplateVars = max_vars;
    ctxt->opLimit = op_limit;
    if (ctxt->xpathCtxt != NULL)
        ctxt->xpathCtxt->opLimit = xpath_op_limit;
}

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

/*
 * Parses a document from memory, sharing `dict` when given. libxslt requires the documents it
 * loads for xsl:import/xsl:include/document() to use the stylesheet's or the transform's
 * dictionary (its own default loader does the same), so this mirrors that loader, except that
 * the bytes come from the caller (who confined and read the file) and the options are the
 * caller's safe ones instead of libxslt's entity-expanding XSLT_PARSE_OPTIONS.
 */
xmlDocPtr vitrine_read_memory(const char *buf, int len, const char *url, xmlDictPtr dict,
                              int options) {
    xmlParserCtxtPtr pctxt = xmlNewParserCtxt();
    xmlDocPtr doc;
    if (pctxt == NULL)
        return NULL;
    if (dict != NULL) {
        if (pctxt->dict != NULL)
            xmlDictFree(pctxt->dict);
        pctxt->dict = dict;
        xmlDictReference(dict);
    }
    doc = xmlCtxtReadMemory(pctxt, buf, len, url, NULL, options);
    xmlFreeParserCtxt(pctxt);
    return doc;
}

/* Whether the transform stopped on an error (a result tree may still exist). */
int vitrine_ctxt_failed(xsltTransformContextPtr ctxt) {
    return ctxt->state != XSLT_STATE_OK;
}

/* The URL of the module a stylesheet is processing (for includes, libxslt swaps style->doc
 * to the included module while it processes it), or NULL. */
const char *vitrine_style_doc_url(void *style) {
    xsltStylesheetPtr s = (xsltStylesheetPtr) style;
    if (s == NULL || s->doc == NULL)
        return NULL;
    return (const char *) s->doc->URL;
}

/*
 * Stops a running transform, from the thread running it (see Budget::trip in xslt.rs): the
 * same state libxslt's own limits set, and the XPath operation budget spent so that an
 * expression being evaluated stops at its next step.
 */
void vitrine_ctxt_stop(xsltTransformContextPtr ctxt) {
    ctxt->state = XSLT_STATE_STOPPED;
    if (ctxt->xpathCtxt != NULL && ctxt->xpathCtxt->opLimit != 0)
        ctxt->xpathCtxt->opCount = ctxt->xpathCtxt->opLimit;
}
