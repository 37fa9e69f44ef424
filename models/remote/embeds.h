/* embeds.h — sequences embedded on the client, for the engines that take input embeddings (vLLM, SGLang; internal to
 * models/remote/).
 *
 * These engines score a sequence of embedding rows and answer log-probabilities of the next token. So the client
 * needs the served model's tokenizer and input-embedding table (`--embeddings DIR`, a local copy of the model), builds
 * each sequence's rows (BOS + template tokens with the soft prompt inserted or added, as the local engines do), and
 * scores a multi-token label word by extending the sequence with its tokens, one request row per extra token.
 */
#ifndef BBT_MODELS_REMOTE_EMBEDS_H
#define BBT_MODELS_REMOTE_EMBEDS_H

#include "models/lm_impl.h"
#include "models/remote/http.h"

/* What a client needs of the served model. */
typedef struct remb {
    lm *local;  /* the model at --embeddings, opened locally (f32, one thread): info, tokenizer, embedding table */
} remb;

/* Open dir (a model directory or file) for its tokenizer and embeddings. Returns LM_OK, or a status with m's
 * message saying why (a masked LM is refused: these engines answer next-token log-probabilities only). */
int remb_open(lm *m, remb *e, const char *dir);
void remb_close(remb *e);

/* The lm info, tokenizer and table of the local copy become the remote model's (its arch set to `arch`). */
void remb_adopt_info(lm *m, const remb *e, const char *arch);

/* One sequence sent: sequence `seq` of a batch, extended by the first `extra` tokens of label `label` (label -1:
 * not extended; every label's first token is read), read for the next token. */
typedef struct rquery {
    int seq, label, extra;
} rquery;

/* The sequences an lm_batch needs and the token ids whose log-probabilities are asked (the labels' tokens). */
typedef struct rplan {
    rquery *q;
    int n;
    int *ids;   /* distinct label token ids, ascending */
    int n_ids;
} rplan;

int rplan_build(lm *m, rplan *p, const lm_batch *b);
void rplan_free(rplan *p);

/* The index of id in p->ids, or -1. */
int rplan_id_index(const rplan *p, int id);

/* Query q's input rows (rows × hidden floats, malloc'ed into *out): the sequence's tokens up to its read row with the
 * prompt inserted (cat) or added (add), then the label tokens of the extension. Returns the row count, or -1 (no
 * memory). */
int remb_rows(const remb *e, const lm_batch *b, const rquery *q, float **out);

/* Add query qi's answer (lp[k]: the log-probability of p->ids[k] after its rows) into scores[seq·C + label]. */
void rplan_add(const rplan *p, const lm_batch *b, int qi, const float *lp, float *scores);

/* The ids query qi reads into ids[] (capacity b->n_labels): every label's first token, or the extension's next one.
 * Returns their count. */
int rplan_query_ids(const rplan *p, const lm_batch *b, int qi, int *ids);

/* ---- the backend both kinds share: an lm whose lm_score sends embedded sequences ---- */

#define REMB_MAX_PER_REQUEST 1024 /* prompts per request: vLLM's default limit */

struct rembc;
/* Send queries first .. first+n-1 of p and add their answers into scores (zeroed by the caller). */
typedef int (*rembc_send)(lm *m, struct rembc *c, const lm_batch *b, const rplan *p, int first, int n, float *scores);

typedef struct rembc {
    rhttp *http;
    lm_remote_stats *stats;
    remb emb;
    rembc_send send;
    char *model;   /* vllm: the requests' "model" */
    lm_wire wire;  /* vllm: the tensors' dtype */
    int stage;     /* vllm: how label log-probabilities are asked for (vllm_wire.c), kept once one works */
} rembc;

/* Open the shared part: the local copy (--embeddings), info and tokenizer adopted; the backend owns http and stats
 * once this succeeds (on failure the caller frees them). ops is the kind's table (REMBC_OPS). */
int rembc_open(lm *m, rhttp *http, lm_remote_stats *stats, rembc_send send, const lm_ops *ops, const char *arch);

/* The operations both kinds share, and their table. */
void rembc_close(void *impl);
int rembc_score(lm *m, const lm_batch *b, float *scores);
int rembc_logits(lm *m, const int *ids, int n, float *out);
int rembc_tokenize(lm *m, const char *text, size_t len, int flags, int *ids, int cap);
int rembc_detokenize(lm *m, const int *ids, int n, char *buf, size_t cap);
void rembc_stats(const lm *m, lm_remote_stats *out);
#define REMBC_OPS(NAME)                                                                                              \
    {                                                                                                                \
        .name = NAME, .close = rembc_close, .score = rembc_score, .logits = rembc_logits,                            \
        .tokenize = rembc_tokenize, .detokenize = rembc_detokenize, .remote_stats = rembc_stats                      \
    }
/* Undo rembc_open after a later step of opening failed: http and stats go back to the caller. */
void rembc_abandon(lm *m);
/* The body of a 200 answer parsed as JSON (an object or a list); else NULL with m's message naming the endpoint, the
 * route, the status and the server's text (LM_EIO in *rc after the retries, LM_EREMOTE for any other answer). */
struct cJSON *rembc_call(lm *m, const char *path, const char *body, int *rc);

#endif
