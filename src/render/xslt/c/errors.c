/* Error reporting: libxml2 and libxslt report through printf-style variadic callbacks,
 * which Rust cannot define; this formats the message and hands a plain string to Rust. */
#include "shim.h"

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
