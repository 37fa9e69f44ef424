/* cmd_serve.c — `bbt serve`: the command line around serve.h; runs until SIGTERM or SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/commands.h"
#include "bbt/files.h"
#include "bbt/options.h"
#include "bbt/serve/serve.h"
#include "bbt/util.h"

static int read_key_file(const char *path, char **key)
{
    bbt_error err;
    size_t len;
    char *text = read_file(path, &len, &err);
    if (!text) {
        fprintf(stderr, "bbt serve: --api-key-file: %s\n", err.msg);
        return -1;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    if (!len || strlen(text) != len) {
        fprintf(stderr, "bbt serve: --api-key-file %s: the file holds no key (or a NUL byte)\n", path);
        free(text);
        return -1;
    }
    free(*key);
    *key = text;
    return 0;
}

/* Block SIGTERM/SIGINT in every thread (the server's threads inherit the mask), then wait for one here. */
static int wait_for_signal(const sigset_t *set)
{
    int sig = 0;
    sigwait(set, &sig);
    return sig;
}

static int check_limits(const serve_config *c)
{
    const struct {
        const char *name;
        int v;
    } pos[] = {{"max-body-mb", c->max_body_mb}, {"max-batch", c->max_batch}, {"max-seq", c->max_seq},
               {"max-examples", c->max_examples}, {"max-handles", c->max_handles}, {"max-merge", c->max_merge},
               {"max-dim", c->max_dim}, {"timeout", c->timeout_s}, {"max-connections", c->max_connections}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v < 1) {
            fprintf(stderr, "bbt serve: --%s %d: must be at least 1\n", pos[i].name, pos[i].v);
            return -1;
        }
    if (c->max_body_mb > 4095 || c->port < 0 || c->port > 65535 || c->threads < 0 || c->threads > 4096) {
        fprintf(stderr, "bbt serve: --max-body-mb (at most 4095), --port (0..65535) or --threads (0..4096) out of range\n");
        return -1;
    }
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    serve_config c;
    serve_config_init(&c);
    char *key_file = NULL, *dtype = NULL, *log_path = NULL;
    const opt opts[] = {
        {"model", OPT_STR, &c.model, "DIR", "the model to serve (required)"},
        {"host", OPT_STR, &c.host, "ADDR", "address to listen on (127.0.0.1); a non-loopback address\n"
                                            "requires an API key"},
        {"port", OPT_INT, &c.port, "N", "port (8000; 0 = any free port, printed at start)"},
        {"api-key", OPT_STR, &c.api_key, "KEY", "require Authorization: Bearer KEY on every route but /health"},
        {"api-key-file", OPT_STR, &key_file, "F", "the same, the key read from a file (not visible in ps)"},
        {"served-model-name", OPT_STR, &c.served_name, "NAME", "model name on the OpenAI routes (the directory name)"},
        {"threads", OPT_INT, &c.threads, "N", "forward-pass threads (0 = all cores)"},
        {"dtype", OPT_STR, &dtype, "T", "bf16 (default) or f32 (exact)"},
        {"max-body-mb", OPT_INT, &c.max_body_mb, "N", "largest request body in MiB (64)"},
        {"max-batch", OPT_INT, &c.max_batch, "N", "candidates or prompts per request (256)"},
        {"max-seq", OPT_INT, &c.max_seq, "N", "tokens or embedding rows per sequence (2048)"},
        {"max-examples", OPT_INT, &c.max_examples, "N", "examples per uploaded set (1024)"},
        {"max-handles", OPT_INT, &c.max_handles, "N", "uploaded sets kept; least recently used expire (64)"},
        {"max-merge", OPT_INT, &c.max_merge, "N", "sequences merged into one forward batch (4096)"},
        {"max-dim", OPT_INT, &c.max_dim, "N", "largest projection dimension d (10000)"},
        {"timeout", OPT_INT, &c.timeout_s, "S", "seconds an idle connection is kept (60)"},
        {"max-connections", OPT_INT, &c.max_connections, "N", "concurrent connections (64)"},
        {"log", OPT_STR, &log_path, "FILE", "access log, one line per request (default: stderr; - = none)"},
    };
    const opt_spec spec = {
        "bbt serve --model DIR [--host ADDR] [--port N] [--api-key KEY | --api-key-file F] [options]",
        "Serves one model over HTTP: the native BBT routes (POST /bbt/v1/examples uploads a few-shot set once,\n"
        "POST /bbt/v1/score scores a population of z vectors through the projection, rebuilt from its seed, and\n"
        "BBTv2's z per layer; POST /bbt/v1/layer_std measures BBTv2's per-layer scales on an uploaded set), the\n"
        "vLLM/OpenAI-compatible POST /v1/completions (prompt_embeds as torch.save'd tensors, or text/token prompts\n"
        "with echo + logprobs), GET /v1/models, POST /tokenize, POST /detokenize, GET /health, GET /bbt/v1/info and\n"
        "GET /metrics (Prometheus). Requests from all clients share one scoring queue that merges them into\n"
        "forward batches. Stops cleanly on SIGTERM or SIGINT. See README (bbt serve) for the request formats.",
        opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int n_pos, rc = opt_parse(&spec, argc, argv, NULL, &n_pos);
    if (rc == 0 && !c.model) {
        fprintf(stderr, "bbt serve: --model DIR is required (see --help)\n");
        rc = -1;
    }
    if (rc == 0 && dtype && strcmp(dtype, "bf16") && strcmp(dtype, "f32")) {
        fprintf(stderr, "bbt serve: --dtype %s: expected bf16 or f32\n", dtype);
        rc = -1;
    }
    if (rc == 0 && (check_limits(&c) || (key_file && read_key_file(key_file, &c.api_key))))
        rc = -1;
    c.f32 = dtype && !strcmp(dtype, "f32");
    FILE *log = stderr;
    if (rc == 0 && log_path && strcmp(log_path, "-") && !(log = fopen(log_path, "a"))) {
        fprintf(stderr, "bbt serve: --log %s: cannot open for appending\n", log_path);
        rc = -1;
    }
    c.log = log_path && !strcmp(log_path, "-") ? NULL : log;
    int exit_code = rc > 0 ? EXIT_OK : EXIT_USAGE;
    if (rc == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        bbt_error err;
        server *s = serve_start(&c, &err);
        if (!s) {
            fprintf(stderr, "bbt serve: %s\n", err.msg);
            exit_code = EXIT_INPUT;
        } else {
            fprintf(stderr, "bbt serve: %s on http://%s:%d/ (SIGTERM or Ctrl-C stops)\n", c.model,
                    c.host ? c.host : "127.0.0.1", serve_port(s));
            int sig = wait_for_signal(&set);
            fprintf(stderr, "bbt serve: signal %d, finishing the requests in flight\n", sig);
            serve_stop(s);
            exit_code = EXIT_OK;
        }
    }
    if (log && log != stderr)
        fclose(log);
    free(c.model), free(c.host), free(c.api_key), free(c.served_name), free(key_file), free(dtype), free(log_path);
    return exit_code;
}
