#ifndef SEPWORKER_UTF8_H
#define SEPWORKER_UTF8_H

#include <stddef.h>

/*
 * Length (2..4) of the well-formed UTF-8 sequence at s, whose first byte
 * is at least 0x80, or 0 when it is ill-formed: overlong forms, UTF-16
 * surrogates, code points above U+10FFFF, a truncated sequence.  Its
 * code point goes to *cp when cp is not NULL.
 */
size_t	utf8_sequence(const unsigned char *s, size_t left, unsigned *cp);

#endif
