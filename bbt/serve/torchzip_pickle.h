/* torchzip_pickle.h — the small part of Python's pickle machine that torch.save's data.pkl uses for one tensor, run on
 * the weights_only allow-list: torch._utils._rebuild_tensor_v2 and collections.OrderedDict, nothing else. */
#ifndef BBT_SERVE_TORCHZIP_PICKLE_H
#define BBT_SERVE_TORCHZIP_PICKLE_H

#include <stddef.h>

#define TZ_MAX_DIMS 4

/* What data.pkl says about the tensor. */
typedef struct tz_pickled {
    char storage_type[64];  /* "FloatStorage", "BFloat16Storage", "HalfStorage", … */
    char key[64];            /* the data record's name under data/ */
    long long storage_numel;
    long long offset;
    int ndim;
    long long size[TZ_MAX_DIMS], stride[TZ_MAX_DIMS];
} tz_pickled;

int tz_unpickle(const unsigned char *buf, size_t len, tz_pickled *out, char *err, size_t errlen);

#endif
