/* lm_remote.c — the remote extension of lm.h: projected scoring and cost counters (see models/remote/README.md). */
#include <string.h>

#include "models/lm_impl.h"

/* Examples in the form the remote routes take: one prompt mode (add or cat) for all, no token types. */
static int check_examples(lm *m, const lm_batch *ex, const char *fn)
{
    for (int i = 0; i < ex->n_seqs; i++)
        if (ex->seqs[i].mode != ex->seqs[0].mode || ex->seqs[i].mode == LM_PROMPT_NONE || ex->seqs[i].type_ids)
            return lm_fail(m, LM_EINVAL, "%s: example %d: every example must use the same prompt mode (add or cat) "
                           "and no token types", fn, i);
    return LM_OK;
}

int lm_can_project(const lm *m) { return m && m->ops && m->ops->score_projected; }

int lm_score_projected(lm *m, const lm_batch *ex, const lm_projection *p, const double *z, int count, float *scores)
{
    if (!lm_can_project(m))
        return lm_fail(m, LM_EUNSUPPORTED, "%s: this model takes dense prompts only (lm_score)", m->path);
    if (!ex || !p || !z || !scores || count < 1 || p->dim < 1 || !p->distribution || ex->n_seqs < 1 || !ex->seqs ||
        ex->prompts || ex->deep_prompts || ex->n_labels < 1 || !ex->labels || ex->prompt_len < 1)
        return lm_fail(m, LM_EINVAL, "lm_score_projected: needs examples (no dense prompts), labels, a prompt length, "
                       "d >= 1, a distribution and count >= 1 candidates");
    if (check_examples(m, ex, "lm_score_projected"))
        return LM_EINVAL;
    if (p->layers < 0 || (p->layers > 1 && (!p->layer_std || p->layers > m->info.layers)))
        return lm_fail(m, LM_EINVAL, "lm_score_projected: layers %d: must be 0 (BBT) or 1 .. the model's %d layers, "
                       "with layer_std for more than one", p->layers, m->info.layers);
    return m->ops->score_projected(m, ex, p, z, count, scores);
}

int lm_layer_std(lm *m, const lm_batch *ex, int layers, double *std)
{
    if (!m || !m->ops || !m->ops->layer_std)
        return m ? lm_fail(m, LM_EUNSUPPORTED, "%s: this model does not measure layer scales remotely (use "
                           "lm_hidden_states)", m->path) : LM_EINVAL;
    if (!ex || !std || ex->n_seqs < 1 || !ex->seqs || ex->deep_prompts || ex->n_labels < 1 || !ex->labels ||
        ex->prompt_len < 1 || layers < 1 || layers > m->info.layers)
        return lm_fail(m, LM_EINVAL, "lm_layer_std: needs examples, labels, a prompt length and 1 .. %d layers "
                       "(got %d)", m->info.layers, layers);
    return check_examples(m, ex, "lm_layer_std") ? LM_EINVAL : m->ops->layer_std(m, ex, layers, std);
}

void lm_get_remote_stats(const lm *m, lm_remote_stats *out)
{
    memset(out, 0, sizeof *out);
    if (m && m->ops && m->ops->remote_stats)
        m->ops->remote_stats(m, out);
}
