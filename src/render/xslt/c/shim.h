/*
 * Shared includes of the C side of the libxml2/libxslt binding (the .c files beside this
 * one, used only by the Rust module render::xslt). C is used for two things stable Rust cannot do
 * safely: define printf-style variadic callbacks, and read or write fields of library
 * structs with the layout of the headers installed at build time (the libxslt crate's
 * bindings stop before fields such as opLimit). No file here allocates, sizes or
 * initialises a library struct: objects are made and freed by the library's own
 * constructors and destructors, and only fields present, at the same place, in every
 * supported version (libxslt appends new fields at the end of its structs) are touched.
 */
#ifndef VITRINE_SHIM_H
#define VITRINE_SHIM_H
/* memmem, dladdr, dl_iterate_phdr */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>
#include <math.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <libxml/xpath.h>
#include <libxml/parserInternals.h>
#include <libxml/xpathInternals.h>
#include <libxml/hash.h>
#include <libxml/dict.h>
#include <libxml/HTMLparser.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/transform.h>
#include <libxslt/imports.h>
#include <libxslt/variables.h>
#include <libxslt/functions.h>
#include <libxslt/extensions.h>
#include <libxslt/xsltutils.h>
#endif
