/* auth.c — constant-time API key comparison and the loopback rule. */
#include "bbt/serve/auth.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "bbt/serve/serve.h"

int auth_equal(const char *a, size_t na, const char *b, size_t nb)
{
    /* Compare over the longer length so that the time does not depend on where the first difference is. */
    size_t n = na > nb ? na : nb;
    unsigned char diff = na != nb;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < na ? (unsigned char)a[i] : 0, y = i < nb ? (unsigned char)b[i] : 0;
        diff |= x ^ y;
    }
    return diff == 0;
}

int auth_bearer_ok(const char *header, const char *key)
{
    static const char prefix[] = "Bearer ";
    if (!header || !key || strncasecmp(header, prefix, sizeof prefix - 1))
        return 0;
    const char *given = header + sizeof prefix - 1;
    return auth_equal(given, strlen(given), key, strlen(key));
}

int serve_host_is_loopback(const char *host)
{
    if (!strcmp(host, "localhost"))
        return 1;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}
