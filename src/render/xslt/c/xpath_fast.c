#include "shim.h"

/*
 * Faster equivalents of libxml2/libxslt hot paths, installed on each transform context by
 * vitrine_ctxt_fast_xpath, when engine.rs allows it (cost measured with the render bench of bench/; the tests
 * proving they return what libxml2's own do: fast_xpath_* in tests.rs).
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
