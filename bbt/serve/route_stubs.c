/* route_stubs.c — routes not written yet (removed as each is implemented). */
#include "bbt/serve/serve_internal.h"

#define NOT_YET(name) \
    void name(server *s, const request *rq, reply *rp) { (void)s, (void)rq; reply_error(rp, 501, "not implemented yet"); }
NOT_YET(route_completions)
NOT_YET(route_tokenize)
NOT_YET(route_detokenize)
