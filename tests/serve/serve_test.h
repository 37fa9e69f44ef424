/* serve_test.h — what the Criterion tests of `bbt serve` share: servers started in-process on loopback with
 * stories260K in f32, JSON calls, and the local scorer `bbt tune` uses, to compare every route's scores against. */
#ifndef TESTS_SERVE_TEST_H
#define TESTS_SERVE_TEST_H

#include <cjson/cJSON.h>

#include "bbt/scorer.h"
#include "bbt/serve/serve.h"

#define MODEL "../shared/assets/models/stories260K"
#define TRAIN "../shared/assets/tasks/sst2/16-13/train.tsv"
#define L_PROMPT 5
#define DIM 20
#define SEED 7
#define COUNT 3

typedef struct local {
    tune_config cfg;
    scorer sc;
    dataset d;
    encoded_set e;
    int n;            /* examples used (the first n of the split) */
    double z[COUNT * DIM];
} local;

const char *golden(const char *name);
void assert_close(double a, double b, const char *what, int i);
server *start(serve_config *c);
server *start_default(void);
cJSON *call(server *s, const char *path, cJSON *body, long *status, const char *key);
cJSON *call_ok(server *s, const char *path, cJSON *body);
void expect_error(server *s, const char *path, cJSON *body, long want_status, const char *needle);
void local_open(local *l, int n_examples);
void local_close(local *l);
cJSON *examples_body(const local *l);
char *upload(server *s, const local *l, cJSON **answer);
cJSON *projection_json(void);
cJSON *score_body(const char *handle, const double *z, int count);
void compare_scores(const cJSON *answer, const float *want, int count, int n, int labels, const char *what);
float *local_scores(local *l);
/* A whole file, or a failed assertion. */
unsigned char *slurp(const char *path, size_t *len);
/* The input rows of example i as a vLLM client builds them: token embeddings with the prompt rows in place. */
float *embed_sequence(local *l, int i, const float *prompt, int *n);

#endif
