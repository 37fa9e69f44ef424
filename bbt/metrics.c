/* metrics.c — cross-entropy, hinge, accuracy and F1 over label-word scores. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/metrics.h"
#include "bbt/util.h"

#define HINGE_MARGIN 2.0

/* −log softmax(row)[y], by log-sum-exp around the maximum so large logits cannot overflow. */
static double cross_entropy(const float *row, int y, int n_classes)
{
    double max = row[0];
    for (int j = 1; j < n_classes; j++)
        if (row[j] > max)
            max = row[j];
    double sum = 0;
    for (int j = 0; j < n_classes; j++)
        sum += exp((double)row[j] - max);
    return max + log(sum) - (double)row[y];
}

static double hinge(const float *row, int y, int n_classes)
{
    double loss = 0;
    for (int j = 0; j < n_classes; j++)
        if (j != y)
            loss += fmax(0.0, (double)row[j] - (double)row[y] + HINGE_MARGIN);
    return loss;
}

int argmax_class(const float *row, int n_classes)
{
    int best = 0;
    for (int j = 1; j < n_classes; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

double metric_accuracy(const float *scores, const int *labels, int n, int n_classes)
{
    int right = 0;
    for (int i = 0; i < n; i++)
        right += argmax_class(scores + (size_t)i * n_classes, n_classes) == labels[i];
    return n ? (double)right / n : 0.0;
}

double metric_f1(const float *scores, const int *labels, int n, int n_classes, int positive_class)
{
    int tp = 0, fp = 0, fn = 0;
    for (int i = 0; i < n; i++) {
        int pred = argmax_class(scores + (size_t)i * n_classes, n_classes) == positive_class;
        int gold = labels[i] == positive_class;
        tp += pred && gold;
        fp += pred && !gold;
        fn += !pred && gold;
    }
    return tp ? 2.0 * tp / (2.0 * tp + fp + fn) : 0.0;
}

void metric_confusion(const float *scores, const int *labels, int n, int n_classes, int *confusion)
{
    memset(confusion, 0, (size_t)n_classes * (size_t)n_classes * sizeof *confusion);
    for (int i = 0; i < n; i++)
        confusion[(size_t)labels[i] * n_classes + argmax_class(scores + (size_t)i * n_classes, n_classes)]++;
}

class_prf metric_class_prf(const int *confusion, int n_classes, int c)
{
    class_prf r = {0, 0, 0, 0, 0};
    for (int j = 0; j < n_classes; j++) {
        r.support += confusion[(size_t)c * n_classes + j];
        r.predicted += confusion[(size_t)j * n_classes + c];
    }
    int tp = confusion[(size_t)c * n_classes + c];
    r.precision = r.predicted ? (double)tp / r.predicted : 0.0;
    r.recall = r.support ? (double)tp / r.support : 0.0;
    r.f1 = tp ? 2.0 * tp / (r.support + r.predicted) : 0.0; /* = 2PR/(P+R) */
    return r;
}

double metric_macro_f1(const float *scores, const int *labels, int n, int n_classes)
{
    int *confusion = xmalloc((size_t)n_classes * (size_t)n_classes * sizeof *confusion);
    metric_confusion(scores, labels, n, n_classes, confusion);
    double sum = 0;
    int present = 0;
    for (int c = 0; c < n_classes; c++) {
        class_prf r = metric_class_prf(confusion, n_classes, c);
        if (r.support || r.predicted) {
            sum += r.f1;
            present++;
        }
    }
    free(confusion);
    return present ? sum / present : 0.0;
}

double metric_task_f1(const float *scores, const int *labels, int n, int n_classes, int positive_class)
{
    return n_classes > 2 ? metric_macro_f1(scores, labels, n, n_classes)
                         : metric_f1(scores, labels, n, n_classes, positive_class);
}

const char *metric_f1_name(int n_classes)
{
    return n_classes > 2 ? "macro_f1" : "f1";
}

void class_probabilities(const float *row, int n_classes, double *p)
{
    double max = row[argmax_class(row, n_classes)], sum = 0;
    for (int j = 0; j < n_classes; j++)
        sum += p[j] = exp((double)row[j] - max);
    for (int j = 0; j < n_classes; j++)
        p[j] /= sum;
}

double loss_value(loss_kind k, const float *scores, const int *labels, int n, int n_classes, int positive_class)
{
    if (k == LOSS_ACC) /* 0.0 - x: a metric of 0 gives a loss of 0, not -0 */
        return 0.0 - metric_accuracy(scores, labels, n, n_classes);
    if (k == LOSS_F1)
        return 0.0 - metric_task_f1(scores, labels, n, n_classes, positive_class);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const float *row = scores + (size_t)i * n_classes;
        sum += k == LOSS_CE ? cross_entropy(row, labels[i], n_classes) : hinge(row, labels[i], n_classes);
    }
    return n ? sum / n : 0.0;
}
