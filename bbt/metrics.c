/* metrics.c — cross-entropy, hinge, accuracy and F1 over label-word scores. */
#include <math.h>
#include <string.h>

#include "bbt/metrics.h"

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

double loss_value(loss_kind k, const float *scores, const int *labels, int n, int n_classes, int positive_class)
{
    if (k == LOSS_ACC) /* 0.0 - x: a metric of 0 gives a loss of 0, not -0 */
        return 0.0 - metric_accuracy(scores, labels, n, n_classes);
    if (k == LOSS_F1)
        return 0.0 - metric_f1(scores, labels, n, n_classes, positive_class);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const float *row = scores + (size_t)i * n_classes;
        sum += k == LOSS_CE ? cross_entropy(row, labels[i], n_classes) : hinge(row, labels[i], n_classes);
    }
    return n ? sum / n : 0.0;
}
