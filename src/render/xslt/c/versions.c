/* The versions of the libraries loaded at run time, which may differ from those the binary
 * was built against (an `apt-get upgrade` replaces the shared objects under a built binary).
 * Both are the libraries' documented public variables. */
#include "shim.h"

/* libxml2's version as a number (20914), from its runtime string "20914". */
int vitrine_loaded_libxml2(void) {
    const char *v = xmlParserVersion;
    return v != NULL ? atoi(v) : 0;
}

/* libxslt's version as a number (10135). */
int vitrine_loaded_libxslt(void) {
    return xsltLibxsltVersion;
}

/* Whether the installed libxslt was built to load extension plugins (WITH_MODULES in its
 * xsltconfig.h): Debian 12 and 13 build it so, sid's does not. */
int vitrine_libxslt_has_modules(void) {
#ifdef WITH_MODULES
    return 1;
#else
    return 0;
#endif
}
