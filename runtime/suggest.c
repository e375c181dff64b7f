/*
** suggest.c - "did you mean ...?": the closest known name to a typo.
*/
#include "graph-impl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Case-insensitive Levenshtein distance, two rows. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *prev = malloc((lb + 1) * sizeof *prev), *cur = malloc((lb + 1) * sizeof *cur);
    size_t d;
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return (size_t)-1;
    }
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = prev[j - 1] + cost;
            if (prev[j] + 1 < best) best = prev[j] + 1;
            if (cur[j - 1] + 1 < best) best = cur[j - 1] + 1;
            cur[j] = best;
        }
        size_t *t = prev;
        prev = cur;
        cur = t;
    }
    d = prev[lb];
    free(prev);
    free(cur);
    return d;
}

const char *lf_closest_name(const char *name, const char *const *candidates)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1, len = strlen(name);
    /* Farther than a third of the name (at least 2 edits) is not a typo. */
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    for (const char *const *c = candidates; c && *c; c++) {
        size_t d = distance(name, *c);
        if (d < best_d) {
            best_d = d;
            best = *c;
        }
    }
    return best_d <= limit ? best : NULL;
}
