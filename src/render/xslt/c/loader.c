/* Documents loaded for xsl:import, xsl:include and document(). */
#include "shim.h"

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
