/* jsonin.h — reading typed fields of request bodies, each failure a message that names the field and the value.
 *
 * Every getter returns 0 on success, 1 when the field is absent (and a default applies), -1 with a message in msg.
 */
#ifndef BBT_SERVE_JSONIN_H
#define BBT_SERVE_JSONIN_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define JSONIN_MSG 1100 /* room for a bbt_error message and a prefix */

int json_get_int(const cJSON *obj, const char *key, long lo, long hi, int *out, char *msg);
int json_get_double(const cJSON *obj, const char *key, double lo, double hi, double *out, char *msg);
int json_get_bool(const cJSON *obj, const char *key, int *out, char *msg);
int json_get_string(const cJSON *obj, const char *key, const char **out, char *msg);

/* An array of integers in [lo, hi], at most max of them; *ids malloc'ed. `what` names it in messages. */
int json_int_array(const cJSON *arr, const char *what, long lo, long hi, int max, int **ids, int *n, char *msg);

/* Finite numbers: an array of n numbers, or a base64 string of n little-endian elements of dtype ("f32", "bf16",
 * "f16"). Converted to float. */
int json_float_array(const cJSON *arr, const char *what, size_t n, float *out, char *msg);
int b64_floats(const char *text, const char *dtype, const char *what, size_t n, float *out, char *msg);

#endif
