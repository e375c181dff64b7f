/*
** fuzz_tokenizer.c - libFuzzer harness for the CLIP tokenizer
** (sd_tokenizer*.c).  Most inputs are prompts, encoded with a small
** vocabulary the harness writes at start-up (openai layout: a merges file
** that spells a few dozen words; no real vocabulary is used).  An input
** that starts with '#' is a merges file itself (openai layout), one that
** starts with '{' is a Hugging Face vocab.json followed, from its first
** line that starts with '#', by merges.txt: each is loaded and, when it
** loads, encodes a few prompts.
**
** Checked: a refusal names what is wrong; BOS first, then the BPE ids, EOS,
** EOS padding; every id names a token; `truncated` exactly when more than
** 75 ids; the untruncated ids start with the encoded ones.  Built when
** meson option `fuzz` is true (clang only); see tests/fuzz/README.md.
*/
#include "sd_tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sd_tokenizer *small; /* the harness's own vocabulary */
static char dir[64];               /* a temporary folder for vocabulary inputs */

/* Words the small vocabulary spells as one token each; other text falls
** apart into shorter pieces and single bytes. */
static const char *const words[] = {
    "a",           "an",    "the",      "of",       "and",     "in",    "on",     "with",
    "photo",       "cat",   "dog",      "red",      "blue",    "green", "house",  "tree",
    "painting",    "oil",   "portrait", "woman",    "man",     "city",  "night",  "sky",
    "astronaut",   "horse", "riding",   "best",     "quality", "high",  "detail", "detailed",
    "masterpiece", "by",    "lake",     "mountain", "sunset",  "light", "dark",   "style",
};

/* Writes the merges that join word's letters left to right (the last with
** "</w>"), skipping those an earlier word already wrote (seen: "\n", then
** each merge written with a newline after it). */
static void add_word(FILE *f, const char *word, char *seen, size_t cap)
{
    size_t n = strlen(word);
    for (size_t k = 1; k < n; k++) {
        char line[96];
        snprintf(line, sizeof line, "\n%.*s %c%s\n", (int)k, word, word[k],
                 k + 1 == n ? "</w>" : "");
        if (strstr(seen, line)) continue;
        if (strlen(seen) + strlen(line) > cap) abort();
        strcat(seen, line + 1);
        fputs(line + 1, f);
    }
}

static void remove_dir(void)
{
    static const char *const names[] = {"small-merges.txt", "bpe.txt", "vocab.json", "merges.txt"};
    char path[128];
    sd_tokenizer_free(small);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(dir, sizeof dir, "/tmp/fuzz-tokenizer-XXXXXX");
    if (!mkdtemp(dir)) abort();
    atexit(remove_dir);
    char path[128];
    snprintf(path, sizeof path, "%s/small-merges.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs("#version: 0.2 - a vocabulary made by fuzz_tokenizer.c\n", f);
    static char seen[1 << 14] = "\n";
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        add_word(f, words[i], seen, sizeof seen);
    if (fclose(f)) abort();
    struct lf_error err = {0};
    if (sd_tokenizer_load(path, &small, &err) != LF_OK) {
        fprintf(stderr, "fuzz-tokenizer: %s\n", err.message);
        abort();
    }
    return 0;
}

/* Encodes text both ways and checks the contract (sd_tokenizer.h). */
static void encode(struct sd_tokenizer *tok, const char *text)
{
    int32_t ids[SD_TOKENIZER_CONTEXT];
    bool truncated = false;
    struct lf_error err = {0};
    enum lf_status s = sd_tokenizer_encode(tok, text, ids, &truncated, &err);
    int32_t *all = NULL;
    size_t count = 0;
    struct lf_error err2 = {0};
    enum lf_status s2 = sd_tokenizer_encode_untruncated(tok, text, &all, &count, &err2);
    if ((s == LF_OK) != (s2 == LF_OK)) abort(); /* both refuse the same text */
    if (s != LF_OK) {
        if (!err.message[0] || !err2.message[0] || all) abort();
        return;
    }
    int32_t bos = sd_tokenizer_bos(tok), eos = sd_tokenizer_eos(tok);
    size_t vocab = sd_tokenizer_vocab_size(tok);
    if (ids[0] != bos || truncated != (count > SD_TOKENIZER_CONTEXT - 2)) abort();
    size_t kept = count < SD_TOKENIZER_CONTEXT - 2 ? count : SD_TOKENIZER_CONTEXT - 2;
    for (size_t i = 0; i < count; i++) {
        if (all[i] < 0 || (size_t)all[i] >= vocab || !sd_tokenizer_token(tok, all[i])) abort();
        if (i < kept && ids[1 + i] != all[i]) abort();
    }
    for (size_t i = 1 + kept; i < SD_TOKENIZER_CONTEXT; i++)
        if (ids[i] != eos) abort();
    if ((count == 0) != (all == NULL)) abort();
    free(all);
}

/* Loads a vocabulary the input spells; prompts go through it when it loads. */
static void load(const char *vocab_path)
{
    struct sd_tokenizer *tok;
    struct lf_error err = {0};
    if (sd_tokenizer_load(vocab_path, &tok, &err) != LF_OK) {
        if (!err.message[0] || tok) abort();
        return;
    }
    if (sd_tokenizer_vocab_size(tok) == 0 || !sd_tokenizer_token(tok, sd_tokenizer_bos(tok)) ||
        !sd_tokenizer_token(tok, sd_tokenizer_eos(tok)))
        abort();
    encode(tok, "a photo of a cat");
    encode(tok, "Ab cD ef 12 34!? \xc3\xa9t\xc3\xa9 <|endoftext|> ''s");
    sd_tokenizer_free(tok);
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    if (size > 0 && data[0] == '#') {
        snprintf(path, sizeof path, "%s/bpe.txt", dir);
        write_file(path, data, size);
        load(path);
        return 0;
    }
    if (size > 0 && data[0] == '{') {
        size_t split = size;
        for (size_t i = 0; i + 1 < size; i++)
            if (data[i] == '\n' && data[i + 1] == '#') {
                split = i + 1;
                break;
            }
        snprintf(path, sizeof path, "%s/merges.txt", dir);
        write_file(path, data + split, size - split);
        snprintf(path, sizeof path, "%s/vocab.json", dir);
        write_file(path, data, split);
        load(path);
        return 0;
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* TextEncode's text ends at its first NUL */
    encode(small, text);
    free(text);
    return 0;
}
