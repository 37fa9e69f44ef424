/* reply.c — JSON replies and errors in vLLM's shape, and reading request bodies and query arguments. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "bbt/serve/serve_internal.h"

void reply_text(reply *rp, int status, char *text, const char *content_type)
{
    free(rp->body);
    rp->status = status;
    rp->body = text;
    rp->len = text ? strlen(text) : 0;
    rp->content_type = content_type;
}

void reply_json(reply *rp, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) {
        reply_error(rp, 500, "out of memory while writing the response");
        return;
    }
    reply_text(rp, status, text, NULL);
}

void reply_json_sized(reply *rp, cJSON *body)
{
    /* two or three passes: the number's own digits change the size only slightly */
    cJSON *bo = cJSON_AddNumberToObject(body, "bytes_out", 0);
    size_t len = 0;
    for (int pass = 0; pass < 3; pass++) {
        char *text = cJSON_PrintUnformatted(body);
        if (!text)
            break;
        size_t now = strlen(text);
        free(text);
        if (now == len)
            break;
        len = now;
        cJSON_SetNumberValue(bo, (double)len);
    }
    reply_json(rp, 200, body);
}

static const char *error_type(int status)
{
    switch (status) {
    case 400: return "BadRequestError";
    case 401: return "AuthenticationError";
    case 404: return "NotFoundError";
    case 405: return "MethodNotAllowedError";
    case 413: return "RequestTooLargeError";
    case 503: return "ServiceUnavailableError";
    default: return status >= 500 ? "InternalServerError" : "BadRequestError";
    }
}

void reply_error(reply *rp, int status, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", error_type(status));
    cJSON_AddNullToObject(e, "param");
    cJSON_AddNumberToObject(e, "code", status);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    reply_text(rp, status, text, NULL);
}

cJSON *request_json(const request *rq, reply *rp)
{
    if (rq->len == 0) {
        reply_error(rp, 400, "the request has no body (a JSON object is expected)");
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(rq->body, rq->len + 1, &end, 1) /* + its NUL */;
    if (!root) {
        size_t at = end && end >= rq->body ? (size_t)(end - rq->body) : 0;
        reply_error(rp, 400, "the body is not valid JSON (error near byte %zu)", at);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        reply_error(rp, 400, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

const char *request_arg(const request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}
