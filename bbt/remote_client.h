/* remote_client.h — what the commands add for a remote model (--endpoint): the API key and the cost report. */
#ifndef BBT_REMOTE_CLIENT_H
#define BBT_REMOTE_CLIENT_H

#include "bbt/error.h"
#include "models/lm.h"

struct cJSON;

/* The API key of --api-key KEY or --api-key-file F (either may be NULL) put into this process's $BBT_API_KEY, where
 * the scorer reads it: the key never enters config.json, and `--resume`, eval and predict find it the same way. */
int remote_set_api_key(const char *key, const char *key_file, bbt_error *err);

/* Add "remote": {calls, retries, uploads, bytes_up, bytes_down, candidates, score_bytes_up_per_candidate,
 * server_s,
 * network_s} (this process's counters) to o when m is a remote model; nothing for a local one. */
void remote_cost_add(struct cJSON *o, const lm *m);

#endif
