/* http.h — the HTTP side of the server (libmicrohttpd): start listening, stop after the requests in flight. */
#ifndef BBT_SERVE_HTTP_H
#define BBT_SERVE_HTTP_H

#include "bbt/serve/serve_internal.h"

int http_start(server *s, bbt_error *err);
void http_stop(server *s);

#endif
