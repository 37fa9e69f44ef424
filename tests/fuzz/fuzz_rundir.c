/* fuzz_rundir.c — libFuzzer target for what bbt reads from a run directory (bbt eval, bbt tune --resume): config.json
 * (tune_config_load: every key strict, ranges and choices checked) and prompt.json (runfiles_read_prompt: the z and the
 * settings it was made with, checked against the configuration).
 *
 * The input is config.json, optionally followed by a line "--- prompt.json ---" and prompt.json. When the configuration
 * does not load, the prompt is read against a default one with d = 4, so that prompt.json's checks are fuzzed too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/config.h"
#include "bbt/remote_client.h"
#include "bbt/runfiles.h"
#include "tests/fuzz/fuzz_file.h"

/* runfiles.c also writes a run's results, which needs a model's embeddings; this target never writes, and linking the
 * engines (OpenMP, oneDNN) into a libFuzzer program for one pointer would cost more than it tells. Reaching it is a bug. */
const float *lm_embeddings(lm *m)
{
    (void)m;
    abort();
}

/* The same for the remote cost counters the writer adds to summary.json. */
void remote_cost_add(cJSON *o, const lm *m)
{
    (void)o, (void)m;
    abort();
}

/* And the engine functions of BBTv2's layer scales (bbt/deep.c), which only a new deep run measures. */
const lm_info *lm_get_info(const lm *m)
{
    (void)m;
    abort();
}

int lm_hidden_states(lm *m, const lm_batch *batch, int seq, float *out)
{
    (void)m, (void)batch, (void)seq, (void)out;
    abort();
}

const char *lm_errmsg(const lm *m)
{
    (void)m;
    abort();
}

int lm_can_project(const lm *m)
{
    (void)m;
    abort();
}

int lm_layer_std(lm *m, const lm_batch *examples, int layers, double *std)
{
    (void)m, (void)examples, (void)layers, (void)std;
    abort();
}

static const char SEPARATOR[] = "\n--- prompt.json ---\n";

static const uint8_t *find(const uint8_t *data, size_t size, const char *needle, size_t n)
{
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, needle, n) == 0)
            return data + i;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = find(data, size, SEPARATOR, sizeof SEPARATOR - 1);
    size_t config_len = sep ? (size_t)(sep - data) : size;
    fuzz_write("config.json", data, config_len);
    if (sep) {
        const uint8_t *prompt = sep + sizeof SEPARATOR - 1;
        fuzz_write("prompt.json", prompt, size - (size_t)(prompt - data));
    } else {
        fuzz_write("prompt.json", "", 0);
    }
    bbt_error err;
    if (runfiles_check_run_dir(fuzz_dir(), &err))
        abort(); /* the directory has a config.json */

    char config_path[128];
    snprintf(config_path, sizeof config_path, "%s/config.json", fuzz_dir());
    tune_config cfg;
    int rc = tune_config_load(&cfg, config_path, &err);
    fuzz_note("config.json", rc, err.msg);
    if (rc == 0) { /* a configuration that loaded writes back and loads again */
        char *json = tune_config_to_json(&cfg);
        const char *again = fuzz_write("config2.json", json, strlen(json));
        tune_config cfg2;
        if (tune_config_load(&cfg2, again, &err))
            abort();
        tune_config_free(&cfg2);
        free(json);
    } else {
        tune_config_init(&cfg);
        cfg.dim = 4;
    }
    if (cfg.dim >= 1 && cfg.dim <= 100000) {
        double *z = NULL;
        rc = runfiles_read_prompt(fuzz_dir(), &cfg, &z, &err);
        fuzz_note("prompt.json", rc, err.msg);
        free(z);
    }
    tune_config_free(&cfg);
    return 0;
}
