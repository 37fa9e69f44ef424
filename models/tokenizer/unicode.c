/* unicode.c — lookups over the generated tables of unicode_data.c (see unicode.h). */
#include "models/tokenizer/unicode.h"

extern const uint32_t uc_category_runs[], uc_ccc_runs[], uc_decomp[], uc_comp[], uc_lower1[], uc_lower_multi[],
    uc_casing_runs[];
extern const size_t uc_category_runs_len, uc_ccc_runs_len, uc_decomp_len, uc_comp_len, uc_lower1_len,
    uc_lower_multi_len, uc_casing_runs_len;

int uc_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (!len)
        return 0;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    int n;
    uint32_t c, min;
    if ((u[0] & 0xE0) == 0xC0) {
        n = 2, c = u[0] & 0x1F, min = 0x80;
    } else if ((u[0] & 0xF0) == 0xE0) {
        n = 3, c = u[0] & 0x0F, min = 0x800;
    } else if ((u[0] & 0xF8) == 0xF0) {
        n = 4, c = u[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)n > len)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000))
        return 0;
    *cp = c;
    return n;
}

long uc_invalid_at(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int n = uc_decode(s + i, len - i, &cp);
        if (!n)
            return (long)i;
        i += (size_t)n;
    }
    return -1;
}

int uc_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Value of the run holding cp, in a table of (start << shift | value) sorted by start. */
static uint32_t run_value(const uint32_t *runs, size_t n, int shift, uint32_t cp)
{
    size_t lo = 0, hi = n;   /* runs[0] starts at 0 */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (runs[mid] >> shift <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return runs[lo] & ((1u << shift) - 1);
}

enum uc_category uc_category(uint32_t cp)
{
    if (cp >= 0x110000)
        return UC_Cn;
    return (enum uc_category)run_value(uc_category_runs, uc_category_runs_len, 5, cp);
}

int uc_is_letter(uint32_t cp)
{
    if (cp < 0x80)
        return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    enum uc_category c = uc_category(cp);
    return c >= UC_Lu && c <= UC_Lo;
}

int uc_is_number(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= '0' && cp <= '9';
    enum uc_category c = uc_category(cp);
    return c >= UC_Nd && c <= UC_No;
}

int uc_is_mark(uint32_t cp)
{
    enum uc_category c = uc_category(cp);
    return c >= UC_Mn && c <= UC_Me;
}

int uc_is_punct(uint32_t cp)
{
    enum uc_category c = uc_category(cp);
    return c >= UC_Pc && c <= UC_Po;
}

int uc_is_control(uint32_t cp)
{
    enum uc_category c = uc_category(cp);
    return c == UC_Cn || c >= UC_Cc;
}

int uc_is_white_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

int uc_combining_class(uint32_t cp)
{
    if (cp < 0x300 || cp >= 0x110000)
        return 0;
    return (int)run_value(uc_ccc_runs, uc_ccc_runs_len, 8, cp);
}

/* Index of the row whose first column is key in a table of rows of width w sorted by that column, or -1. */
static long find_row(const uint32_t *t, size_t nvals, size_t w, uint32_t key)
{
    size_t lo = 0, hi = nvals / w;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t[mid * w] == key)
            return (long)mid;
        if (t[mid * w] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

enum { HANGUL_S = 0xAC00, HANGUL_L = 0x1100, HANGUL_V = 0x1161, HANGUL_T = 0x11A7, HANGUL_VN = 21, HANGUL_TN = 28,
       HANGUL_N = 21 * 28, HANGUL_COUNT = 19 * 21 * 28 };

int uc_decompose(uint32_t cp, uint32_t out[4])
{
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_COUNT) {
        uint32_t s = cp - HANGUL_S;
        out[0] = HANGUL_L + s / HANGUL_N;
        out[1] = HANGUL_V + (s % HANGUL_N) / HANGUL_TN;
        if (s % HANGUL_TN) {
            out[2] = HANGUL_T + s % HANGUL_TN;
            return 3;
        }
        return 2;
    }
    long r = cp < 0xC0 ? -1 : find_row(uc_decomp, uc_decomp_len, 5, cp);
    if (r < 0) {
        out[0] = cp;
        return 1;
    }
    int n = 0;
    for (int i = 1; i <= 4 && uc_decomp[r * 5 + i]; i++)
        out[n++] = uc_decomp[r * 5 + i];
    return n;
}

uint32_t uc_compose(uint32_t a, uint32_t b)
{
    if (a >= HANGUL_L && a < HANGUL_L + 19 && b >= HANGUL_V && b < HANGUL_V + HANGUL_VN)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_VN + (b - HANGUL_V)) * HANGUL_TN;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_COUNT && (a - HANGUL_S) % HANGUL_TN == 0 && b > HANGUL_T &&
        b < HANGUL_T + HANGUL_TN)
        return a + (b - HANGUL_T);
    size_t lo = 0, hi = uc_comp_len / 3;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *row = uc_comp + mid * 3;
        if (row[0] == a && row[1] == b)
            return row[2];
        if (row[0] < a || (row[0] == a && row[1] < b))
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int uc_lower(uint32_t cp, uint32_t out[3])
{
    if (cp < 0x80) {
        out[0] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        return 1;
    }
    long r = find_row(uc_lower1, uc_lower1_len, 2, cp);
    if (r >= 0) {
        out[0] = uc_lower1[r * 2 + 1];
        return 1;
    }
    r = find_row(uc_lower_multi, uc_lower_multi_len, 4, cp);
    if (r >= 0) {
        int n = 0;
        for (int i = 1; i <= 3 && uc_lower_multi[r * 4 + i]; i++)
            out[n++] = uc_lower_multi[r * 4 + i];
        return n;
    }
    out[0] = cp;
    return 1;
}

int uc_casing(uint32_t cp)
{
    if (cp >= 0x110000)
        return 0;
    return (int)run_value(uc_casing_runs, uc_casing_runs_len, 2, cp);
}
