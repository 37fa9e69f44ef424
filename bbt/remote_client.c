/* remote_client.c — the API key of a remote run and its cost in log.jsonl and summary.json. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/files.h"
#include "bbt/remote_client.h"

int remote_set_api_key(const char *key, const char *key_file, bbt_error *err)
{
    if (key && key_file)
        return bbt_fail(err, "give --api-key or --api-key-file, not both");
    char *text = NULL;
    if (key_file) {
        size_t len;
        if (!(text = read_file(key_file, &len, err)))
            return bbt_prefix(err, "--api-key-file: ");
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
            text[--len] = '\0';
        if (!len || strlen(text) != len) {
            free(text);
            return bbt_fail(err, "--api-key-file %s: the file holds no key (or a NUL byte)", key_file);
        }
        key = text;
    }
    int rc = key ? setenv("BBT_API_KEY", key, 1) : 0;
    free(text);
    return rc ? bbt_fail(err, "cannot set $BBT_API_KEY") : 0;
}

void remote_cost_add(cJSON *o, const lm *m)
{
    lm_remote_stats st;
    lm_get_remote_stats(m, &st);
    if (!st.calls)
        return;
    cJSON *r = cJSON_AddObjectToObject(o, "remote");
    cJSON_AddNumberToObject(r, "calls", (double)st.calls);
    cJSON_AddNumberToObject(r, "retries", (double)st.retries);
    cJSON_AddNumberToObject(r, "uploads", (double)st.uploads);
    cJSON_AddNumberToObject(r, "bytes_up", (double)st.bytes_up);
    cJSON_AddNumberToObject(r, "bytes_down", (double)st.bytes_down);
    cJSON_AddNumberToObject(r, "candidates", (double)st.candidates);
    if (st.candidates) /* what one candidate costs to send each generation (example uploads and tokenizing aside) */
        cJSON_AddNumberToObject(r, "score_bytes_up_per_candidate", (double)(st.bytes_up_scoring / st.candidates));
    cJSON_AddNumberToObject(r, "server_s", (double)(long long)(st.server_s * 1e3) / 1e3);
    cJSON_AddNumberToObject(r, "network_s", (double)(long long)(st.network_s * 1e3) / 1e3);
}
