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
#include <math.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <libxml/xpath.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/transform.h>
#include <libxslt/imports.h>
#include <libxml/parserInternals.h>
#include <libxml/xpathInternals.h>
#include <libxml/hash.h>
#include <libxml/dict.h>
#include <libxslt/variables.h>
#include <libxslt/functions.h>

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

/*
 * Faster equivalents of libxml2/libxslt hot paths, installed on each transform context by
 * vitrine_ctxt_fast_xpath (measurements: bench/README.md, "Session 3"; the differential tests
 * proving they return what libxml2's own do: fast_xpath_* in xslt.rs).
 *
 * 1. Variable lookup. libxslt's xsltXPathVariableLookup hashes the name of every global
 *    variable reference twice (dictionary, then global table) and copies a string value with
 *    libxml2's byte-at-a-time xmlStrdup; on our themes that was 13 % of a transform. Here a
 *    local variable is found by the same pointer comparison, a global one by one hash lookup
 *    (only for names interned in the context's dictionary, where libxslt's second pass would
 *    find nothing more), and strings are copied with memcpy. Anything else (a variable not
 *    computed yet, a global being computed, a name not interned) goes to libxslt's own lookup.
 * 2. XPath string functions translate(), contains(), substring-before(), substring-after(),
 *    substring(), normalize-space() and concat(): libxml2 scans with byte loops, walks UTF-8
 *    character by character where bytes would do, appends to a buffer one character at a time
 *    (normalize-space) and reallocates once per argument of concat().
 *    Arguments are converted to strings exactly as libxml2 converts them (xmlXPathPopString);
 *    a string argument is taken from its object instead of copied (pop_string).
 */

/* Implemented in Rust (xpath_fast.rs): translate() of valid UTF-8 strings, into a buffer
 * from xmlMalloc; NULL when an argument is not valid UTF-8 (libxml2's function is used). */
extern xmlChar *vitrine_xpath_translate(const xmlChar *s, const xmlChar *from, const xmlChar *to);

static xmlXPathObjectPtr fast_copy(xmlXPathObjectPtr v) {
    if (v->type == XPATH_STRING && v->stringval != NULL) {
        size_t n = strlen((const char *) v->stringval);
        xmlChar *s = (xmlChar *) xmlMallocAtomic(n + 1);
        xmlXPathObjectPtr r;
        if (s == NULL)
            return NULL;
        memcpy(s, v->stringval, n + 1);
        r = xmlXPathWrapString(s);
        if (r == NULL)
            xmlFree(s);
        return r;
    }
    return xmlXPathObjectCopy(v);
}

static xmlXPathObjectPtr fast_variable_lookup(void *data, const xmlChar *name,
                                              const xmlChar *ns_uri) {
    xsltTransformContextPtr t = (xsltTransformContextPtr) data;
    xsltStackElemPtr found = NULL;
    int i;
    if (t == NULL || name == NULL)
        return NULL;
    for (i = t->varsNr; i > t->varsBase; i--) {
        xsltStackElemPtr cur = t->varsTab[i - 1];
        if (cur->name == name && cur->nameURI == ns_uri) {
            found = cur;
            break;
        }
    }
    if (found == NULL && t->globalVars != NULL && t->xpathCtxt != NULL &&
        xmlDictOwns(t->dict, name) == 1 && (ns_uri == NULL || xmlDictOwns(t->dict, ns_uri) == 1))
        found = (xsltStackElemPtr) xmlHashLookup2(t->globalVars, name, ns_uri);
    if (found != NULL && found->computed && found->value != NULL)
        return fast_copy(found->value);
    return xsltXPathVariableLookup(data, name, ns_uri);
}

/* Pops the top of the XPath stack as a string the caller owns: a string object gives up its
 * own (libxml2's xmlXPathPopString would copy it, byte by byte); anything else is converted
 * by xmlXPathPopString, as libxml2's functions convert their arguments. */
static xmlChar *pop_string(xmlXPathParserContextPtr ctxt) {
    xmlXPathObjectPtr top = ctxt->valueNr > 0 ? ctxt->value : NULL;
    if (top != NULL && top->type == XPATH_STRING && top->stringval != NULL) {
        xmlXPathObjectPtr obj = valuePop(ctxt);
        xmlChar *ret = obj->stringval;
        obj->stringval = NULL;
        xmlXPathFreeObject(obj);
        return ret;
    }
    return xmlXPathPopString(ctxt);
}

/* Pops nargs strings (the last argument first) into args[0..nargs); 0 on failure, with
 * every popped string freed and the XPath error set. */
static int pop_strings(xmlXPathParserContextPtr ctxt, int nargs, xmlChar **args) {
    int i, j;
    for (i = nargs - 1; i >= 0; i--) {
        args[i] = pop_string(ctxt);
        if (args[i] == NULL || ctxt->error != XPATH_EXPRESSION_OK) {
            for (j = i; j < nargs; j++)
                xmlFree(args[j]);
            if (ctxt->error == XPATH_EXPRESSION_OK)
                xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
            return 0;
        }
    }
    return 1;
}

static void push_string(xmlXPathParserContextPtr ctxt, xmlChar *s) {
    xmlXPathObjectPtr o;
    if (s == NULL) {
        xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
        return;
    }
    o = xmlXPathWrapString(s);
    if (o == NULL) {
        xmlFree(s);
        xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
        return;
    }
    valuePush(ctxt, o);
}

static void fast_translate(xmlXPathParserContextPtr ctxt, int nargs) {
    xmlChar *a[3];
    xmlChar *out;
    CHECK_ARITY(3);
    if (!pop_strings(ctxt, 3, a))
        return;
    out = vitrine_xpath_translate(a[0], a[1], a[2]);
    if (out == NULL) {
        /* Not valid UTF-8 (or no memory): libxml2's own, on the same three strings. */
        push_string(ctxt, a[0]);
        push_string(ctxt, a[1]);
        push_string(ctxt, a[2]);
        if (ctxt->error == XPATH_EXPRESSION_OK)
            xmlXPathTranslateFunction(ctxt, 3);
        return;
    }
    xmlFree(a[0]);
    xmlFree(a[1]);
    xmlFree(a[2]);
    push_string(ctxt, out);
}

/* Where needle first occurs in hay, as libxml2's xmlStrstr (an empty needle is at 0). */
static const xmlChar *find(const xmlChar *hay, size_t hay_len, const xmlChar *needle) {
    size_t n = strlen((const char *) needle);
    if (n == 0)
        return hay;
    return (const xmlChar *) memmem(hay, hay_len, needle, n);
}

static void fast_contains(xmlXPathParserContextPtr ctxt, int nargs) {
    xmlChar *a[2];
    int found;
    CHECK_ARITY(2);
    if (!pop_strings(ctxt, 2, a))
        return;
    found = find(a[0], strlen((const char *) a[0]), a[1]) != NULL;
    xmlFree(a[0]);
    xmlFree(a[1]);
    valuePush(ctxt, xmlXPathNewBoolean(found));
}

/* The two below cut the string they own in place instead of copying the part they keep. */
static void fast_substring_before(xmlXPathParserContextPtr ctxt, int nargs) {
    xmlChar *a[2];
    const xmlChar *at;
    CHECK_ARITY(2);
    if (!pop_strings(ctxt, 2, a))
        return;
    at = find(a[0], strlen((const char *) a[0]), a[1]);
    a[0][at == NULL ? 0 : at - a[0]] = 0;
    xmlFree(a[1]);
    push_string(ctxt, a[0]);
}

static void fast_substring_after(xmlXPathParserContextPtr ctxt, int nargs) {
    xmlChar *a[2];
    const xmlChar *at;
    size_t len;
    CHECK_ARITY(2);
    if (!pop_strings(ctxt, 2, a))
        return;
    len = strlen((const char *) a[0]);
    at = find(a[0], len, a[1]);
    if (at == NULL) {
        a[0][0] = 0;
    } else {
        at += strlen((const char *) a[1]);
        memmove(a[0], at, len - (size_t) (at - a[0]) + 1);
    }
    xmlFree(a[1]);
    push_string(ctxt, a[0]);
}

static void fast_concat(xmlXPathParserContextPtr ctxt, int nargs) {
    xmlChar *small[8];
    xmlChar **a = small;
    size_t *lens, small_lens[8], total = 0;
    xmlChar *out;
    int i;
    if (ctxt == NULL)
        return;
    if (nargs < 2) {
        CHECK_ARITY(2);
    }
    if (nargs > 8) {
        a = (xmlChar **) xmlMalloc(sizeof(xmlChar *) * (size_t) nargs);
        lens = (size_t *) xmlMalloc(sizeof(size_t) * (size_t) nargs);
        if (a == NULL || lens == NULL) {
            xmlFree(a);
            xmlFree(lens);
            xmlXPathErr(ctxt, XPATH_MEMORY_ERROR);
            return;
        }
    } else {
        lens = small_lens;
    }
    if (pop_strings(ctxt, nargs, a)) {
        for (i = 0; i < nargs; i++) {
            lens[i] = strlen((const char *) a[i]);
            total += lens[i];
        }
        out = (xmlChar *) xmlMallocAtomic(total + 1);
        if (out != NULL) {
            total = 0;
            for (i = 0; i < nargs; i++) {
                memcpy(out + total, a[i], lens[i]);
                total += lens[i];
            }
            out[total] = 0;
        }
        for (i = 0; i < nargs; i++)
            xmlFree(a[i]);
        push_string(ctxt, out);
    }
    if (a != small) {
        xmlFree(a);
        xmlFree(lens);
    }
}

/* substring(s, start [, length]): the positions libxml2 computes (XPath rounding, NaN and
 * infinities included), then the characters between them. */
static void fast_substring(xmlXPathParserContextPtr ctxt, int nargs) {
    double in, le = 0.0;
    int i = 1, j = INT_MAX;
    xmlChar *s;
    if (ctxt == NULL)
        return;
    if (nargs < 2) {
        CHECK_ARITY(2);
    }
    if (nargs > 3) {
        CHECK_ARITY(3);
    }
    if (nargs == 3) {
        le = xmlXPathPopNumber(ctxt);
        if (ctxt->error != XPATH_EXPRESSION_OK)
            return;
    }
    in = xmlXPathPopNumber(ctxt);
    if (ctxt->error != XPATH_EXPRESSION_OK)
        return;
    if (!pop_strings(ctxt, 1, &s))
        return;
    if (!(in < INT_MAX)) {
        i = INT_MAX;
    } else if (in >= 1.0) {
        i = (int) in;
        if (in - floor(in) >= 0.5)
            i += 1;
    }
    if (nargs == 3) {
        double rin = floor(in), rle = floor(le), end;
        if (in - rin >= 0.5)
            rin += 1.0;
        if (le - rle >= 0.5)
            rle += 1.0;
        end = rin + rle;
        if (!(end >= 1.0))
            j = 1;
        else if (end < INT_MAX)
            j = (int) end;
    }
    /* libxml2 cuts with xmlUTF8Strsub(s, i - 1, j - i): the same walk (character lengths
     * read from lead bytes), done in place in the string we own instead of two copies. */
    if (i < j) {
        const xmlChar *p = s;
        int k, len = j - i;
        size_t n;
        for (k = 0; k < i - 1 && *p != 0; k++) {
            int ch = *p++;
            if (ch & 0x80) {
                ch <<= 1;
                while ((ch & 0x80) && *p != 0) {
                    p++;
                    ch <<= 1;
                }
            }
        }
        if (k == i - 1) {
            const xmlChar *q = p;
            while (len-- > 0 && *q != 0) {
                int ch = *q++;
                if (ch & 0x80)
                    while (((ch <<= 1) & 0x80) && *q != 0)
                        q++;
            }
            n = (size_t) (q - p);
        } else {
            n = 0;
        }
        memmove(s, p, n);
        s[n] = 0;
    } else {
        s[0] = 0;
    }
    push_string(ctxt, s);
}

/* normalize-space(s); without argument (the context node's string value) libxml2's own. */
static void fast_normalize(xmlXPathParserContextPtr ctxt, int nargs) {
    xmlChar *s;
    if (ctxt == NULL)
        return;
    if (nargs != 1) {
        xmlXPathNormalizeFunction(ctxt, nargs);
        return;
    }
    if (!pop_strings(ctxt, 1, &s))
        return;
    {
        /* libxml2's loop, in place: the result is never longer. */
        const xmlChar *r = s;
        xmlChar *w = s;
        int blank = 0;
        while (IS_BLANK_CH(*r))
            r++;
        for (; *r != 0; r++) {
            if (IS_BLANK_CH(*r)) {
                blank = 1;
            } else {
                if (blank)
                    *w++ = 0x20;
                blank = 0;
                *w++ = *r;
            }
        }
        *w = 0;
    }
    push_string(ctxt, s);
}

static const struct {
    const char *name;
    xmlXPathFunction fn;
} FAST_FUNCTIONS[] = {
    {"translate", fast_translate},
    {"contains", fast_contains},
    {"substring-before", fast_substring_before},
    {"substring-after", fast_substring_after},
    {"substring", fast_substring},
    {"normalize-space", fast_normalize},
    {"concat", fast_concat},
};

/* XPath caches the function an expression calls in the compiled expression, so this runs
 * once per call site, not per call. */
static xmlXPathFunction fast_function_lookup(void *data, const xmlChar *name,
                                             const xmlChar *ns_uri) {
    size_t i;
    if (ns_uri == NULL && name != NULL)
        for (i = 0; i < sizeof FAST_FUNCTIONS / sizeof FAST_FUNCTIONS[0]; i++)
            if (xmlStrEqual(name, BAD_CAST FAST_FUNCTIONS[i].name))
                return FAST_FUNCTIONS[i].fn;
    return xsltXPathFunctionLookup(data, name, ns_uri);
}

/*
 * Installs the above on a new transform context. Only over libxslt's own lookups, as
 * xsltNewTransformContext registers them (with these data pointers): if anything else was
 * installed, nothing is changed. Returns 1 when installed.
 */
int vitrine_ctxt_fast_xpath(xsltTransformContextPtr ctxt) {
    xmlXPathContextPtr x = ctxt->xpathCtxt;
    if (x == NULL || x->varLookupFunc != (xmlXPathVariableLookupFunc) xsltXPathVariableLookup ||
        x->varLookupData != (void *) ctxt ||
        x->funcLookupFunc != (xmlXPathFuncLookupFunc) xsltXPathFunctionLookup ||
        x->funcLookupData != (void *) x)
        return 0;
    xmlXPathRegisterVariableLookup(x, fast_variable_lookup, ctxt);
    xmlXPathRegisterFuncLookup(x, fast_function_lookup, x);
    return 1;
}

/*
 * Transform contexts without their per-context function and instruction tables.
 *
 * xsltNewTransformContext (1.1.35) fills two hash tables for every transform: the XPath
 * context's function table (xmlXPathNewContext registers the 27 XPath functions, then
 * XSLT_REGISTER_VARIABLE_LOOKUP the 9 XSLT ones) and the context's instruction table
 * (xsltRegisterAllElement, 24 entries); xsltFreeTransformContext frees both. That was 7 % of
 * the instructions of a page render on the reference theme (callgrind, render --all), for
 * tables that are the same for every transform and only read afterwards: libxml2 and
 * libxslt look functions up once per call site (the compiled expression caches the
 * function) and instructions by xmlHashLookup2.
 *
 * vitrine_new_transform_context is xsltNewTransformContext of 1.1.35 step for step, except
 * that both tables are the process-wide ones built once by vitrine_shared_tables_init, with
 * the same registration calls. What keeps them read-only: entries are only added by
 * xsltRegisterExtElement / xsltRegisterExtFunction / xmlXPathRegisterFunc* on a context,
 * which libxslt calls from extension modules' per-context init functions (EXSLT func, dyn;
 * the lint refuses every extension namespace but common, strings, math and sets, which
 * register globally and have none) and never during a transform. vitrine_free_transform_context
 * detaches them before xsltFreeTransformContext, and reports if their sizes ever changed.
 * xmlHashLookup* only read a table, so threads may share them like the compiled stylesheet.
 */
#include <libxslt/extensions.h>
#include <libxslt/documents.h>
#include <libxslt/security.h>
#include <libxslt/xsltutils.h>

static xmlHashTablePtr shared_funcs;
static xmlHashTablePtr shared_elements;
static int shared_funcs_size;
static int shared_elements_size;
/* What cur->traceCode points at: libxslt's own variable is static; this holds its value. */
static unsigned long shared_trace;

/* Builds the shared tables; once, at start-up, before any thread renders and outside any
 * render arena. Returns 1 on success. */
int vitrine_shared_tables_init(void) {
    xmlXPathContextPtr x;
    xsltTransformContext scratch;
    if (shared_funcs != NULL)
        return 1;
    x = xmlXPathNewContext(NULL);
    if (x == NULL)
        return 0;
    xsltRegisterAllFunctions(x);
    memset(&scratch, 0, sizeof scratch);
    xsltRegisterAllElement(&scratch);
    if (x->funcHash == NULL || scratch.extElements == NULL) {
        if (scratch.extElements != NULL)
            xmlHashFree(scratch.extElements, NULL);
        xmlXPathFreeContext(x);
        return 0;
    }
    shared_funcs = x->funcHash;
    x->funcHash = NULL;
    xmlXPathFreeContext(x);
    shared_elements = scratch.extElements;
    shared_funcs_size = xmlHashSize(shared_funcs);
    shared_elements_size = xmlHashSize(shared_elements);
    shared_trace = (unsigned long) xsltDebugGetDefaultTrace();
    return 1;
}

int vitrine_free_transform_context(xsltTransformContextPtr ctxt);

xsltTransformContextPtr vitrine_new_transform_context(xsltStylesheetPtr style, xmlDocPtr doc) {
    xsltTransformContextPtr cur;
    xsltDocumentPtr docu;
    xmlXPathContextPtr x;
    int i;

    if (shared_funcs == NULL)
        return NULL;
    xsltInitGlobals();
    cur = (xsltTransformContextPtr) xmlMalloc(sizeof(xsltTransformContext));
    if (cur == NULL)
        return NULL;
    memset(cur, 0, sizeof(xsltTransformContext));
    /* xsltTransformCacheCreate (static in transform.c) */
    cur->cache = (xsltTransformCachePtr) xmlMalloc(sizeof(xsltTransformCache));
    if (cur->cache == NULL)
        goto internal_err;
    memset(cur->cache, 0, sizeof(xsltTransformCache));
    cur->dict = xmlDictCreateSub(style->dict);
    cur->internalized = ((style->internalized) && (cur->dict != NULL));
    cur->templTab = (xsltTemplatePtr *) xmlMalloc(10 * sizeof(xsltTemplatePtr));
    if (cur->templTab == NULL)
        goto internal_err;
    cur->templNr = 0;
    cur->templMax = 5;
    cur->templ = NULL;
    cur->maxTemplateDepth = xsltMaxDepth;
    cur->varsTab = (xsltStackElemPtr *) xmlMalloc(10 * sizeof(xsltStackElemPtr));
    if (cur->varsTab == NULL)
        goto internal_err;
    cur->varsNr = 0;
    cur->varsMax = 10;
    cur->vars = NULL;
    cur->varsBase = 0;
    cur->maxTemplateVars = xsltMaxVars;
    cur->profTab = NULL;
    cur->profNr = 0;
    cur->profMax = 0;
    cur->prof = 0;
    cur->style = style;
    xmlXPathInit();
    /* xmlXPathNewContext (2.9.14) without its xmlXPathRegisterAllFunctions */
    x = (xmlXPathContextPtr) xmlMalloc(sizeof(xmlXPathContext));
    if (x == NULL)
        goto internal_err;
    memset(x, 0, sizeof(xmlXPathContext));
    x->doc = doc;
    x->funcHash = shared_funcs;
    x->contextSize = -1;
    x->proximityPosition = -1;
    cur->xpathCtxt = x;
    if (xmlXPathContextSetCache(x, 1, -1, 0) == -1)
        goto internal_err;
    if (style->extrasNr != 0) {
        cur->extrasMax = style->extrasNr + 20;
        cur->extras = (xsltRuntimeExtraPtr) xmlMalloc(cur->extrasMax * sizeof(xsltRuntimeExtra));
        if (cur->extras == NULL)
            goto internal_err;
        cur->extrasNr = style->extrasNr;
        for (i = 0; i < cur->extrasMax; i++) {
            cur->extras[i].info = NULL;
            cur->extras[i].deallocate = NULL;
            cur->extras[i].val.ptr = NULL;
        }
    } else {
        cur->extras = NULL;
        cur->extrasNr = 0;
        cur->extrasMax = 0;
    }
    /* XSLT_REGISTER_VARIABLE_LOOKUP, its two registrations replaced by the shared tables */
    xmlXPathRegisterVariableLookup(x, xsltXPathVariableLookup, (void *) cur);
    cur->extElements = shared_elements;
    x->extra = cur;
    XSLT_REGISTER_FUNCTION_LOOKUP(cur);
    x->nsHash = style->nsHash;
    xsltInitCtxtExts(cur);
    if (xslDebugStatus == XSLT_DEBUG_NONE)
        xmlXPathOrderDocElems(doc);
    cur->parserOptions = XSLT_PARSE_OPTIONS;
    docu = xsltNewDocument(cur, doc);
    if (docu == NULL)
        goto internal_err;
    docu->main = 1;
    cur->document = docu;
    cur->inst = NULL;
    cur->outputFile = NULL;
    cur->sec = xsltGetDefaultSecurityPrefs();
    cur->debugStatus = xslDebugStatus;
    cur->traceCode = &shared_trace;
    cur->xinclude = xsltGetXIncludeDefault();
    cur->keyInitLevel = 0;
    return cur;

internal_err:
    vitrine_free_transform_context(cur);
    return NULL;
}

/* Frees a context made by vitrine_new_transform_context. Returns 0, or 1 if the shared tables
 * changed size since start-up (something registered into them: a bug to report). */
int vitrine_free_transform_context(xsltTransformContextPtr ctxt) {
    int changed = xmlHashSize(shared_funcs) != shared_funcs_size ||
                  xmlHashSize(shared_elements) != shared_elements_size;
    if (ctxt == NULL)
        return changed;
    if (ctxt->extElements == shared_elements)
        ctxt->extElements = NULL;
    if (ctxt->xpathCtxt != NULL && ctxt->xpathCtxt->funcHash == shared_funcs)
        ctxt->xpathCtxt->funcHash = NULL;
    xsltFreeTransformContext(ctxt);
    return changed;
}
