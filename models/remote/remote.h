/* remote.h — remote backends of lm.h (internal to models/remote/). */
#ifndef BBT_MODELS_REMOTE_REMOTE_H
#define BBT_MODELS_REMOTE_REMOTE_H

#include "models/lm_impl.h"
#include "models/remote/http.h"

/* bbt serve's native route, from the answer to GET /bbt/v1/info (info, its JSON text). On success the backend owns
 * http and stats; on failure m's message says why and the caller frees them. */
int rbbt_open(lm *m, rhttp *http, lm_remote_stats *stats, const char *info);

/* The kinds that take input embeddings (vllm_wire.c, sglang_wire.c; the sequences are embedded by embeds.c from
 * m->opts.embeddings_dir). Ownership of http and stats as for rbbt_open. */
int rvllm_open(lm *m, rhttp *http, lm_remote_stats *stats);
int rsglang_open(lm *m, rhttp *http, lm_remote_stats *stats);

/* Several endpoints of one model, comma-separated URLs (multi.c). */
int remote_open_multi(lm *m, const char *urls);

#endif
