/* b64.h — standard base64 (RFC 4648 §4, '+' and '/'), the encoding of binary payloads in JSON request bodies.
 *
 * The decoder is strict, because a payload that decodes "mostly" would score a different prompt without anyone
 * noticing: only the 64 letters, '=' padding at the end only (optional, but if present it must be right), no
 * whitespace, and the unused low bits of the last letter must be zero.
 */
#ifndef BBT_SERVE_B64_H
#define BBT_SERVE_B64_H

#include <stddef.h>

/* An upper bound of the decoded size of len letters. */
size_t b64_decoded_max(size_t len);

/* Decode len letters into out (room for b64_decoded_max(len) bytes). Returns the decoded length, or -1 with the byte
 * offset of the first bad letter in *bad_at (len when the text ends wrongly). */
long b64_decode(const char *in, size_t len, unsigned char *out, size_t *bad_at);

/* Encode len bytes with '=' padding; a fresh NUL-terminated string (caller frees), NULL when out of memory. */
char *b64_encode(const void *data, size_t len);

#endif
