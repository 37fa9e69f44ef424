/* base64.c — strict base64 decoding and encoding (see base64.h). */
#include "common/base64.h"

#include <stdlib.h>

static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int letter_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

size_t common_b64_decoded_max(size_t len) { return len / 4 * 3 + 3; }

long common_b64_decode(const char *in, size_t len, unsigned char *out, size_t *bad_at)
{
    size_t data = len;
    if (len % 4 == 0 && len >= 4) { /* padded: one or two '=' at the end only */
        if (in[len - 1] == '=')
            data--;
        if (in[len - 2] == '=')
            data--;
    }
    if (data % 4 == 1) {
        *bad_at = len;
        return -1;
    }
    unsigned acc = 0;
    int bits = 0;
    long n = 0;
    for (size_t i = 0; i < data; i++) {
        int v = letter_value((unsigned char)in[i]);
        if (v < 0) {
            *bad_at = i;
            return -1;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0 || (len % 4 != 0 && len != data)) { /* leftover bits must be zero */
        *bad_at = data ? data - 1 : 0;
        return -1;
    }
    return n;
}

char *common_b64_encode(const void *data, size_t len)
{
    const unsigned char *p = data;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = letters[(v >> 18) & 63];
        out[o++] = letters[(v >> 12) & 63];
        out[o++] = i + 1 < len ? letters[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? letters[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}
