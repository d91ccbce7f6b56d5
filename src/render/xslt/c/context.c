/* Fields of a transform context made by xsltNewTransformContext: the budgets of one
 * transform, its outcome, and stopping it. Every field used here (maxTemplateDepth,
 * maxTemplateVars, opLimit, state, xpathCtxt and the XPath context's opLimit/opCount) has
 * the same position in libxslt 1.1.35 to 1.1.45 and libxml2 2.9 to 2.15. */
#include "shim.h"

/* Budgets of one transform: template/variable depth and instruction counts. */
void vitrine_ctxt_set_limits(xsltTransformContextPtr ctxt, int max_depth, int max_vars,
                             unsigned long op_limit, unsigned long xpath_op_limit) {
    ctxt->maxTemplateDepth = max_depth;
    ctxt->maxTemplateVars = max_vars;
    ctxt->opLimit = op_limit;
    if (ctxt->xpathCtxt != NULL)
        ctxt->xpathCtxt->opLimit = xpath_op_limit;
}

/* Whether the transform stopped on an error (a result tree may still exist). */
int vitrine_ctxt_failed(xsltTransformContextPtr ctxt) {
    return ctxt->state != XSLT_STATE_OK;
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
