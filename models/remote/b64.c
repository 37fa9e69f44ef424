/* b64.c — strict base64 decoding of the server's binary fields. */
#include <string.h>

#include "models/remote/remote.h"

static int sextet(char c)
{
    const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(tab, c) : NULL;
    return p ? (int)(p - tab) : -1;
}

long rb64_decode(const char *in, unsigned char *out, size_t cap)
{
    size_t len = strlen(in), n = 0;
    if (len % 4)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int pad = (in[i + 2] == '=') + (in[i + 3] == '=');
        if (pad && i + 4 != len)
            return -1;
        int a = sextet(in[i]), b = sextet(in[i + 1]), c = pad == 2 ? 0 : sextet(in[i + 2]),
            d = pad ? 0 : sextet(in[i + 3]);
        if (a < 0 || b < 0 || c < 0 || d < 0 || n + 3 - (size_t)pad > cap)
            return -1;
        unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
        out[n++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[n++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[n++] = (unsigned char)v;
    }
    return (long)n;
}
