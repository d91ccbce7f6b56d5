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
/* memmem, dladdr, dl_iterate_phdr */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <string.h>
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

/*
 * Interning the XSLT namespace of compiled stylesheets.
 *
 * libxslt asks "is this node an XSLT instruction?" for nearly every node it executes
 * (IS_XSLT_ELEM: xmlStrEqual(node->ns->href, XSLT_NAMESPACE)). xmlStrEqual returns at once when
 * both pointers are equal; otherwise it compares the 36 bytes of the URI. Measured with
 * callgrind on the sample themes, those comparisons were about 9 % of a page's instructions.
 * Pointing every declaration of the XSLT namespace in a compiled stylesheet at libxslt's own
 * copy of the literal turns each of them into one pointer comparison. The contents are the
 * same bytes, so no comparison changes its result; only its cost changes.
 */
static const char XSLT_NS_BYTES[] = "http://www.w3.org/1999/XSL/Transform";

struct ns_search {
    ElfW(Addr) base;
    const xmlChar *found;
    int count;
};

static int find_in_segments(struct dl_phdr_info *info, size_t size, void *data) {
    struct ns_search *s = data;
    (void) size;
    if (info->dlpi_addr != s->base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        /* Read-only data only: the literal lives in .rodata, never in writable memory. */
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_R) || (ph->p_flags & PF_W))
            continue;
        const char *p = (const char *) (info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p < end) {
            /* sizeof includes the NUL: the match is a whole C string (or a suffix of one). */
            const char *hit = memmem(p, (size_t) (end - p), XSLT_NS_BYTES, sizeof XSLT_NS_BYTES);
            if (hit == NULL)
                break;
            s->found = (const xmlChar *) hit;
            s->count++;
            p = hit + 1;
        }
    }
    return 1;
}

/*
 * libxslt's copy of the XSLT namespace literal, or NULL when it cannot be identified with
 * certainty (not exactly one copy in libxslt's read-only segments). Call once, at init.
 */
const xmlChar *vitrine_find_xslt_ns_literal(void) {
    Dl_info info;
    struct ns_search s = {0, NULL, 0};
    if (dladdr((void *) xsltApplyStylesheet, &info) == 0 || info.dli_fbase == NULL)
        return NULL;
    s.base = (ElfW(Addr)) info.dli_fbase;
    dl_iterate_phdr(find_in_segments, &s);
    if (s.count != 1 || strcmp((const char *) s.found, XSLT_NS_BYTES) != 0)
        return NULL;
    return s.found;
}

/* share != 0: free each XSLT namespace URI copy and point it at `lit`;
 * share == 0: give each declaration pointing at `lit` a private copy again, so that
 * xmlFreeNs, which frees href unconditionally, never frees libxslt's literal. */
static void intern_ns_doc(xmlDocPtr doc, const xmlChar *lit, int share) {
    xmlNodePtr cur = doc != NULL ? doc->children : NULL;
    while (cur != NULL) {
        if (cur->type == XML_ELEMENT_NODE) {
            for (xmlNsPtr ns = cur->nsDef; ns != NULL; ns = ns->next) {
                if (share && ns->href != lit && xmlStrEqual(ns->href, lit)) {
                    xmlChar *copy = (xmlChar *) ns->href;
                    ns->href = lit;
                    if (doc->dict == NULL || !xmlDictOwns(doc->dict, copy))
                        xmlFree(copy);
                } else if (!share && ns->href == lit) {
                    ns->href = xmlStrdup(lit);
                }
            }
            /* Only elements are descended into: entity references' children belong to the
             * entity declaration and would lead the walk out of the tree. */
            if (cur->children != NULL) {
                cur = cur->children;
                continue;
            }
        }
        /* Next node in document order. */
        while (cur->next == NULL) {
            cur = cur->parent;
            if (cur == NULL || cur == (xmlNodePtr) doc)
                return;
        }
        cur = cur->next;
    }
}

static void intern_ns_style(xsltStylesheetPtr style, const xmlChar *lit, int share) {
    intern_ns_doc(style->doc, lit, share);
    for (xsltDocumentPtr d = style->docList; d != NULL; d = d->next)
        intern_ns_doc(d->doc, lit, share);
    for (xsltStylesheetPtr imp = style->imports; imp != NULL; imp = imp->next)
        intern_ns_style(imp, lit, share);
}

void vitrine_style_share_xslt_ns(xsltStylesheetPtr style, const xmlChar *lit) {
    if (style != NULL && lit != NULL)
        intern_ns_style(style, lit, 1);
}

void vitrine_style_unshare_xslt_ns(xsltStylesheetPtr style, const xmlChar *lit) {
    if (style != NULL && lit != NULL)
        intern_ns_style(style, lit, 0);
}

/*
 * Facts the HTML serialiser (xslt/html_writer.rs) needs from libxml2, read with the system
 * headers: what libxml2's own HTML serialiser would look up for the same node.
 */
#include <libxml/HTMLparser.h>

/* 1: known HTML element; 2: empty (void) element, written without children or end tag;
 * 4: saveEndTag and not html/body, i.e. an element without children gets no end tag. */
int vitrine_html_tag_flags(const xmlChar *name) {
    const htmlElemDesc *info = htmlTagLookup(name);
    int flags;
    if (info == NULL)
        return 0;
    flags = 1;
    if (info->empty)
        flags |= 2;
    if (info->saveEndTag && xmlStrcmp(BAD_CAST info->name, BAD_CAST "html") &&
        xmlStrcmp(BAD_CAST info->name, BAD_CAST "body"))
        flags |= 4;
    return flags;
}

/* The names of ordinary text nodes and of those written with disable-output-escaping. */
const xmlChar *vitrine_text_name(void) {
    return xmlStringText;
}

const xmlChar *vitrine_text_noenc_name(void) {
    return xmlStringTextNoenc;
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
