#include "shim.h"

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
