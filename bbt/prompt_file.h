/* prompt_file.h — a dense soft prompt as a safetensors file: one tensor "prompt" of shape [L, H], F32.
 *
 * The tuner writes the best prompt this way (prompt.safetensors) for use elsewhere, and cat mode can start from one
 * (--init-prompt), e.g. a prompt tuned on another task.
 */
#ifndef BBT_PROMPT_FILE_H
#define BBT_PROMPT_FILE_H

#include "bbt/error.h"

#define PROMPT_TENSOR "prompt"

int prompt_file_write(const char *path, const float *prompt, int len, int hidden, bbt_error *err);

/* Read the prompt, which must be [len, hidden] (the run's L and the model's H): a wrong shape or dtype is an error naming
 * the file and both shapes. *out is malloc'ed (caller frees). */
int prompt_file_read(const char *path, int len, int hidden, float **out, bbt_error *err);

#endif
