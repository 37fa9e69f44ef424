/* metrics.h — losses the tuner minimises and metrics it reports, computed from the label-word scores.
 *
 * scores is an n × C matrix (example-major) of per-class scores: logits at <mask> for a masked LM, label
 * log-probabilities for a causal LM. Both losses and metrics only compare scores of one example with each other, so a
 * per-example constant (log-prob = logit − log Z) changes nothing.
 */
#ifndef BBT_METRICS_H
#define BBT_METRICS_H

/* Names ("ce", "hinge", "acc", "f1") are the run configuration's (config.c). */
typedef enum loss_kind {
    LOSS_CE = 0,    /* mean cross-entropy of the softmax over the label words */
    LOSS_HINGE,     /* Σ_{j≠y} max(0, s_j − s_y + margin) / n, margin 2 (the reference's multi-class hinge) */
    LOSS_ACC,       /* −accuracy */
    LOSS_F1         /* −F1 of the positive class */
} loss_kind;

double loss_value(loss_kind k, const float *scores, const int *labels, int n, int n_classes, int positive_class);

int argmax_class(const float *row, int n_classes);
double metric_accuracy(const float *scores, const int *labels, int n, int n_classes);
/* F1 of one class (precision and recall of predicting it); 0 when it is never predicted nor present. */
double metric_f1(const float *scores, const int *labels, int n, int n_classes, int positive_class);

#endif
