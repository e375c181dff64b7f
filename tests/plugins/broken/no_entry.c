/* no_entry.c - a shared object without the entry symbol (the loader must refuse it). */
#include "lcmflow/plugin.h"

LF_EXPORT int not_an_lcmflow_plugin(void)
{
    return 1;
}
