/* base64.h — standard base64 (RFC 4648 §4, '+' and '/'), the encoding of binary payloads in JSON bodies (bbt serve
 * reads and writes them, the remote client in models/remote/ too).
 *
 * The decoder is strict, because a payload that decodes "mostly" would score a different prompt without anyone
 * noticing: only the 64 letters, '=' padding at the end only (optional, but if present it must be right), no
 * whitespace, and the unused low bits of the last letter must be zero.
 */
#ifndef COMMON_BASE64_H
#define COMMON_BASE64_H

#include <stddef.h>

/* An upper bound of the decoded size of len letters. */
size_t common_b64_decoded_max(size_t len);

/* Decode len letters into out (room for common_b64_decoded_max(len) bytes). Returns the decoded length, or -1 with the byte
 * offset of the first bad letter in *bad_at (len when the text ends wrongly). */
long common_b64_decode(const char *in, size_t len, unsigned char *out, size_t *bad_at);

/* Encode len bytes with '=' padding; a fresh NUL-terminated string (caller frees), NULL when out of memory. */
char *common_b64_encode(const void *data, size_t len);

#endif
