/*
** sd_prompt.h - the prompt syntax of AUTOMATIC1111 and ComfyUI, parsed into
** runs of (text, weight), chunk breaks and embedding references.
**
**   (text)        weight x 1.1; ((text)) x 1.21; nesting multiplies
**   (text:1.3)    weight x 1.3 (any number, negative and 0 included)
**   [text]        weight / 1.1
**   \( \) \[ \] \\  the literal character
**   BREAK         (upper case, as a word) ends the current 75-token chunk
**   embedding:NAME  the vectors of a textual-inversion embedding; NAME runs
**                 up to white space or one of , ( ) [ ] : \ and the
**                 embedding takes the weight of the brackets around it
**
** Unbalanced brackets are never an error (AUTOMATIC1111's rules): a ')' or
** ']' with nothing open, and a ':number)' outside round brackets, are text;
** a '(' or '[' still open at the end weights everything after it.
** Weights saturate at +-FLT_MAX (very deep nesting).  A '\'
** before any other character is kept as text.  Adjacent text of equal
** weight is merged into one run.
**
** With SD_PROMPT_LITERAL (TextEncode's weighting `none`) brackets, numbers
** and backslashes are all text at weight 1; BREAK and embedding:NAME still
** work.
**
** The parser works on bytes: every character it looks at is ASCII, so UTF-8
** text passes through unchanged.  Bytes >= 0x80 count as word characters
** when deciding whether BREAK stands alone.
*/
#ifndef LCMFLOW_SD_PROMPT_H
#define LCMFLOW_SD_PROMPT_H

#include "lcmflow/error.h"

#include <stddef.h>

enum sd_prompt_kind {
    SD_PROMPT_TEXT,      /* text: tokenize it */
    SD_PROMPT_BREAK,     /* start a new chunk */
    SD_PROMPT_EMBEDDING, /* text is the embedding's name */
};

enum sd_prompt_syntax {
    SD_PROMPT_WEIGHTED, /* brackets and :numbers are weights */
    SD_PROMPT_LITERAL,  /* brackets are text */
};

struct sd_prompt_run {
    enum sd_prompt_kind kind;
    char *text; /* NUL-terminated, owned by the prompt; "" for BREAK */
    float weight;
};

struct sd_prompt {
    struct sd_prompt_run *runs; /* owned; NULL when count is 0 */
    size_t count;
};

/* Parses text (UTF-8, any length) into *out (caller frees with
** sd_prompt_free()).  Fails only when out of memory; an empty prompt gives
** no runs. */
enum lf_status sd_prompt_parse(const char *text, enum sd_prompt_syntax syntax,
                               struct sd_prompt *out, struct lf_error *err);

/* Accepts a zeroed or freed prompt. */
void sd_prompt_free(struct sd_prompt *prompt);

#endif
