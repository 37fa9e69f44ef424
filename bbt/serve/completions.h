/* completions.h — the parts of POST /v1/completions: the request as parsed, the prompts' log-probabilities, the answer.
 *
 * route_completions.c reads the request and computes; completions_out.c writes the vLLM-shaped response. */
#ifndef BBT_SERVE_COMPLETIONS_H
#define BBT_SERVE_COMPLETIONS_H

#include <stdint.h>

#include "bbt/serve/serve_internal.h"

typedef struct comp_params {
    int max_tokens;            /* 0 or 1 */
    double temperature;
    int logprobs;              /* -1: none asked */
    int *logprob_ids, n_logprob_ids;   /* vLLM's logprob_token_ids */
    int *allowed, n_allowed;   /* allowed_token_ids */
    int as_ids;                /* return_tokens_as_token_ids */
    int echo;
    uint64_t seed;
} comp_params;

/* One prompt, computed. */
typedef struct comp_prompt {
    int n;                     /* prompt tokens (or embedding rows) */
    int *ids;                  /* text/token prompts: the ids; NULL for embeddings */
    float *lp;                 /* log-probabilities over the vocabulary: echo: n rows (row t predicts token t+1, the
                                  last row the next token); else 1 row (the next token) */
    int rows;                  /* rows of lp */
    int gen;                   /* the generated token (max_tokens 1), else -1 */
} comp_prompt;

/* The response body for all prompts. */
struct cJSON *completions_response(server *s, const comp_params *p, const comp_prompt *pr, int count);

#endif
