/* remote.c — lm_open on an endpoint URL: connect, find out what the server is, hand over to its backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/remote/remote.h"

int remote_open(lm *m, const char *url)
{
    if (strchr(url, ','))
        return remote_open_multi(m, url);
    const char *kind = m->opts.remote_kind;
    int embeds = kind && (!strcmp(kind, "vllm") || !strcmp(kind, "sglang"));
    if (kind && strcmp(kind, "bbt") && !embeds)
        return lm_fail(m, LM_EINVAL, "%s: unknown endpoint kind \"%s\" (bbt, vllm or sglang)", url, kind);
    lm_remote_stats *stats = calloc(1, sizeof *stats);
    rhttp *http = calloc(1, sizeof *http);
    char msg[1024];
    int rc = stats && http ? rhttp_init(http, url, m->opts.api_key, m->opts.timeout_s, m->opts.retries,
                                        m->opts.max_inflight, stats, msg, sizeof msg)
                           : (snprintf(msg, sizeof msg, "out of memory"), LM_ENOMEM);
    if (!rc && embeds) { /* these engines say nothing about themselves that bbt needs: the local copy does */
        rc = !strcmp(kind, "vllm") ? rvllm_open(m, http, stats) : rsglang_open(m, http, stats);
        if (rc == LM_OK)
            return LM_OK;
        rhttp_free(http);
        free(http);
        free(stats);
        return rc;
    }
    rhttp_reply r = {0};
    if (!rc && rhttp_call(http, "/bbt/v1/info", NULL, &r, msg, sizeof msg))
        rc = LM_EIO;
    if (!rc && r.status != 200) {
        char text[300];
        rhttp_error_text(&r, text, sizeof text);
        if (r.status == 401 || r.status == 403)
            snprintf(msg, sizeof msg, "%s refused the API key (HTTP %ld: %s); give the server's key with --api-key, "
                     "--api-key-file or $BBT_API_KEY", url, r.status, text);
        else if (!kind && r.status == 404)
            snprintf(msg, sizeof msg, "%s does not answer GET /bbt/v1/info (HTTP 404), so it is not `bbt serve`; for a "
                     "vLLM or SGLang server give --endpoint-kind vllm or sglang and --embeddings DIR", url);
        else
            snprintf(msg, sizeof msg, "%s: GET /bbt/v1/info answered %ld: %s", url, r.status, text);
        rc = r.status == 401 || r.status == 403 ? LM_EREMOTE : LM_EUNSUPPORTED;
    }
    if (!rc) { /* the backend owns http and stats once it opened */
        int brc = rbbt_open(m, http, stats, r.body);
        rhttp_reply_free(&r);
        if (brc == LM_OK)
            return LM_OK;
        rhttp_free(http);
        free(http);
        free(stats);
        return brc;
    }
    rhttp_reply_free(&r);
    if (http)
        rhttp_free(http);
    free(http);
    free(stats);
    return lm_fail(m, rc ? rc : LM_EIO, "%s", msg);
}
