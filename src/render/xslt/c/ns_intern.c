#include "shim.h"
#include <dlfcn.h>
#include <link.h>

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
