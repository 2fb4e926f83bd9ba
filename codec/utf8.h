/*
 * utf8.h - make text safe for JSON documents.
 *
 * HDF5 does not validate strings: files that say UTF-8 but hold other bytes
 * exist, and a JSON document with such bytes is invalid. Invalid sequences
 * (overlong forms, surrogates, code points past U+10FFFF, stray or truncated
 * bytes) are replaced by U+FFFD. Only bytes >= 0x80 ever change, so the safe
 * name of a repaired key (every run of bytes outside [A-Za-z0-9._-] becomes
 * one '_') equals the safe name of the original.
 */
#ifndef UTF8_H
#define UTF8_H

/* NULL when s is valid UTF-8 (nothing to do), else a malloc'd repaired copy;
 * *failed is set when a repair was needed but memory ran out. */
char *utf8_repair(const char *s, int *failed);

#endif
