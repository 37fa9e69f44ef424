/* deep.h — BBTv2's deep prompts (Sun et al., arXiv 2205.11200): a z_l and a projection A_l per layer.
 *
 * A run with --deep searches z = (z_0, …, z_{N−1}), N = deep_layers, d values each, laid out one after the other
 * (N·d doubles: deep_zdim). Layer 0's prompt is BBT's own: A_0·z_0 + p0 goes to the model as the input prompt, with
 * A_0 drawn and scaled as without --deep (bbt/projection.h), so a deep z whose other blocks are zero is exactly the
 * shallow prompt of z_0. For l ≥ 1, A_l·z_l is added to the input hidden states of layer l at the prompt rows
 * (lm_batch.deep_prompts). A_l is drawn from its own PCG stream of the run seed (PROJECTION_STREAM + l) and, for the
 * normal kind, scaled by σ̂_l in place of the embedding table's σ̂: the standard deviation of every entry of layer l's
 * input hidden states over the training set under the untuned prompt, after clipping the entries five times to
 * μ ± 3σ of what is left (the reference's deepbbt.py). The uniform kind is ±1/√d at every layer.
 *
 * σ̂_l is measured once, when a run is created, and kept in the run directory's deep.json (exact numbers): a resumed
 * run, `bbt eval` and `bbt predict` read it back instead of measuring again, so the prompts are bit for bit the same.
 */
#ifndef BBT_DEEP_H
#define BBT_DEEP_H

#include "bbt/config.h"
#include "bbt/encode.h"
#include "bbt/error.h"
#include "bbt/projection.h"
#include "models/lm.h"

#define DEEP_FILE "deep.json"

/* The reference's BBTv2 defaults that differ from BBT's (σ0 and α), applied by `bbt tune --deep` unless given. */
#define DEEP_SIGMA0_DEFAULT 0.2
#define DEEP_ALPHA_DEFAULT 0.2

typedef struct deep_prompt {
    int layers;         /* N: layers 0 .. N−1 carry a prompt */
    int model_layers;   /* the model's layers (lm_batch.deep_prompts has this many per prompt) */
    int dim;            /* d, per layer */
    int rows;           /* L·H */
    double *layer_std;  /* N values: [0] the embedding table's σ̂ (A_0's), [l] σ̂_l */
    projection *proj;   /* A_1 .. A_{N−1} (index l − 1) */
} deep_prompt;

/* Values of z a configuration searches: N·d with --deep, d without. */
int deep_zdim(const tune_config *cfg);

/* With --deep: σ0 and α become the BBTv2 defaults unless the command line gave them. */
void deep_defaults(tune_config *cfg, int sigma0_given, int alpha_given);

/* Resolve deep_layers = 0 (every layer) for a model, and check N against it. */
int deep_resolve_layers(tune_config *cfg, int model_layers, bbt_error *err);

/* σ̂_l of layers 1 .. N−1 into std[1 .. N−1] (std[0] untouched): the hidden states of every training sequence
 * (train->seqs, n_seqs of them) under the untuned prompt (train->prompts: L·H floats, or NULL for zero), clipped as
 * above. A model that scores projected candidates (bbt serve behind models/remote) measures on its side, with this
 * same code (lm_layer_std; train's labels are needed there: the set is uploaded once and scored later). */
int deep_measure_std(lm *m, const lm_batch *train, int layers, double *std, bbt_error *err);

/* The deep prompt of a run (cfg->deep set, deep_layers resolved). New run (train != NULL: the training examples with
 * the untuned prompt, as for deep_measure_std): measure σ̂_l and write dir/deep.json. Otherwise read σ̂_l from
 * dir/deep.json, checked against cfg and the model. embedding_std is A_0's σ̂. *out is NULL when cfg->deep is 0. */
int deep_open(deep_prompt **out, const tune_config *cfg, lm *m, const lm_batch *train, double embedding_std,
              const char *dir, bbt_error *err);
void deep_free(deep_prompt *dp);

/* The prompts of count deep vectors z (count × N·d doubles): prompts (count × L·H floats) = A_0·z_0 + p0 through
 * proj0, deep (count × model_layers × L·H floats) = 0 at layer 0 and at layers ≥ N, A_l·z_l at layer l. */
void deep_apply(const deep_prompt *dp, const projection *proj0, const double *z, int count, float *prompts,
                float *deep);

/* A_l (l >= 1) of a run: rows × dim, from PCG stream PROJECTION_STREAM + l of the seed, the normal kind scaled by
 * layer_std (σ̂_l) in place of the embedding table's σ̂. The one definition: deep_open and bbt serve's native route
 * (which rebuilds a client's A_l) both draw through it. */
int deep_layer_projection(projection *p, int rows, int dim, uint64_t seed, int layer, projection_kind kind,
                          double alpha, double sigma0, double layer_std, bbt_error *err);

/* deep_apply with the projections given: proj[0] = A_0 (with p0), proj[l] = A_l for l = 1 .. layers−1, all of one d
 * and L·H. z: count × layers·d; prompts: count × L·H; deep: count × model_layers × L·H (zero at layer 0 and beyond
 * layers). */
void deep_apply_projections(const projection *const *proj, int layers, int model_layers, const double *z, int count,
                            float *prompts, float *deep);

/* One layer's prompt A_l·z_l (l ≥ 1) of one deep vector z into out (L·H floats). */
void deep_layer_prompt(const deep_prompt *dp, const double *z, int layer, float *out);

#endif
