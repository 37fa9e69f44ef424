/* assets.h — where the shared models and task data live.
 *
 * Search order: the --assets option; the BBT_ASSETS environment variable; ../shared/assets from the working directory;
 * ../../shared/assets from the directory of the bbt executable (a build/ tree inside a checkout). The first that exists
 * wins.
 */
#ifndef BBT_ASSETS_H
#define BBT_ASSETS_H

#include "bbt/error.h"

/* The assets directory (caller frees), or NULL with a message listing every place tried. */
char *assets_find(const char *option, bbt_error *err);

/* The default model: <assets>/models/stories260K. */
char *assets_default_model(const char *assets);

#endif
