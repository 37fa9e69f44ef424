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

/* The first label id that query qi reads and lp (its answer, NaN where not answered) lacks; -1 when none. */
int rplan_missing(const rplan *p, const lm_batch *b, int qi, const float *lp);

/* ---- the backend both kinds share: an lm whose lm_score sends embedded sequences ---- */

#define REMB_MAX_PER_REQUEST 1024 /* prompts per request by default: vLLM's limit */

struct rembc;
/* What differs between the kinds: the route, the ways of asking for the label ids (tried in order for a request
 * whose answer lacks one, until every id comes back), a request's body and the reading of its answer. */
typedef struct rembc_kind {
    const char *path;                  /* the scoring route, e.g. "/v1/completions" */
    int n_stages;                      /* ways of asking for the label ids */
    const char *const *stage_names;    /* each way, for messages */
    const char *hint;                  /* said when no way returned every id */
    /* may this way be tried for this plan (NULL: every way may) */
    int (*usable)(const rplan *p, int stage);
    /* the body of a request for queries first .. first+n-1 of p, asking the stage's way; NULL: no memory */
    char *(*build)(lm *m, struct rembc *c, const lm_batch *b, const rplan *p, int first, int n, int stage);
    /* the answer's log-probabilities into lp[i·p->n_ids + k] for i < n (left NaN where not answered): LM_OK, or
     * LM_EREMOTE with m's message quoting the field of an answer of the wrong shape or with a value that is not a
     * log-probability */
    int (*read)(lm *m, const struct cJSON *answer, const rplan *p, int n, int stage, float *lp);
} rembc_kind;

typedef struct rembc {
    rhttp *http;
    lm_remote_stats *stats;
    remb emb;
    const rembc_kind *kind;
    char *model;   /* vllm: the requests' "model" */
    lm_wire wire;  /* vllm: the tensors' dtype */
    int per_request; /* sequences per request */
    int stage;     /* how label log-probabilities are asked for, kept once one works */
} rembc;

/* Open the shared part: the local copy (--embeddings), info and tokenizer adopted; the backend owns http and stats
 * once this succeeds (on failure the caller frees them). ops is the kind's table (REMBC_OPS).
 * lm_score then sends its sequences in requests of at most lm_options.request_seqs (0: REMB_MAX_PER_REQUEST), all
 * in flight together (rhttp_perform, up to lm_options.max_inflight), and adds the answers up in sequence order: the
 * scores depend neither on the request size nor on the order in which the answers arrive. */
int rembc_open(lm *m, rhttp *http, lm_remote_stats *stats, const rembc_kind *kind, const lm_ops *ops, const char *arch);

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
/* The same for a reply that rhttp_perform brought back. */
struct cJSON *rembc_answer(lm *m, const rhttp_req *q, int *rc);

#endif
