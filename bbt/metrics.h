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
    LOSS_F1         /* −F1 as metric_task_f1 defines it: of the positive class, or macro-F1 for more than two classes */
} loss_kind;

double loss_value(loss_kind k, const float *scores, const int *labels, int n, int n_classes, int positive_class);

int argmax_class(const float *row, int n_classes);
double metric_accuracy(const float *scores, const int *labels, int n, int n_classes);
/* F1 of one class (precision and recall of predicting it); 0 when it is never predicted nor present. */
double metric_f1(const float *scores, const int *labels, int n, int n_classes, int positive_class);

/* Macro-F1: the mean of the classes' F1, over the classes that occur as a gold label or a prediction (as scikit-learn's
 * f1_score(average="macro") does with its default labels); 0 when n is 0. */
double metric_macro_f1(const float *scores, const int *labels, int n, int n_classes);

/* The F1 a task reports, selects prompts by and trains on (--loss f1): of positive_class for two classes; macro-F1 for
 * more, where one class's F1 would silently ignore the others. */
double metric_task_f1(const float *scores, const int *labels, int n, int n_classes, int positive_class);

/* What metric_task_f1 is called in outputs: "f1" for two classes, "macro_f1" for more. */
const char *metric_f1_name(int n_classes);

/* The confusion matrix: confusion[gold * n_classes + predicted] counts examples (n_classes² ints, filled here). */
void metric_confusion(const float *scores, const int *labels, int n, int n_classes, int *confusion);

/* One class's precision, recall and F1 from a confusion matrix; each is 0 where its denominator is 0. */
typedef struct class_prf {
    double precision, recall, f1;
    int support;    /* gold examples of the class */
    int predicted;  /* examples predicted as the class */
} class_prf;
class_prf metric_class_prf(const int *confusion, int n_classes, int c);

/* Each class's probability for one example: the softmax of its scores (a masked LM's logits at <mask>, or a causal LM's
 * label log-probabilities: the model's probabilities renormalised over the label words). */
void class_probabilities(const float *row, int n_classes, double *p);

#endif
