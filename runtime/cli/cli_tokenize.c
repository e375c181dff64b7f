/*
** cli_tokenize.c - `lcmflow tokenize`: prints the CLIP token ids of a prompt,
** the ids the text encoder would see.
*/
#include "cli.h"
#include "sd_conditioning.h"
#include "sd_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lcmflow tokenize [--vocab PATH] [--checkpoint PATH] [--untruncated]\n"
            "                        [--tokens] [--weights [--embeddings DIR]] TEXT...\n"
            "\n"
            "Prints the %d CLIP token ids of TEXT (several arguments are joined with\n"
            "spaces): <|startoftext|>, the first %d BPE ids, <|endoftext|>, then\n"
            "<|endoftext|> as padding (SD 1.5's convention).\n"
            "\n"
            "  --vocab PATH       vocab.json (merges.txt beside it), a folder with both,\n"
            "                     or openai's bpe_simple_vocab_16e6.txt.gz\n"
            "  --checkpoint PATH  use the tokenizer/ folder of this checkpoint\n"
            "  --untruncated      print only the BPE ids, without framing or truncation\n"
            "  --tokens           print one 'id token' pair a line instead\n"
            "  --weights          parse the prompt syntax ((word:1.2), [word], BREAK,\n"
            "                     embedding:NAME) and print each chunk's tokens as\n"
            "                     'chunk position id token weight' (padding left out)\n"
            "  --embeddings DIR   where embedding:NAME files are (with --weights)\n"
            "\n"
            "Without --vocab the vocabulary is looked for in the checkpoint's tokenizer/\n"
            "folder, then in $%s.\n",
            SD_TOKENIZER_CONTEXT, SD_TOKENIZER_CONTEXT - 2, SD_TOKENIZER_ENV);
}

/* --weights: the chunks TextEncode would encode, one token a line. */
static enum lf_status print_weights(struct sd_tokenizer *tok, const char *text, const char *dir,
                                    struct lf_error *err)
{
    struct sd_prompt prompt;
    struct sd_prompt_tokens t;
    struct sd_embeddings lib = {.dirs = {dir, NULL}, .width = -1};
    enum lf_status s = sd_prompt_parse(text, SD_PROMPT_WEIGHTED, &prompt, err);
    if (s) return s;
    for (size_t i = 0; !dir && i < prompt.count; i++)
        if (prompt.runs[i].kind == SD_PROMPT_EMBEDDING) {
            s = lf_error_set(err, LF_ERR_INVALID, "embedding:%s: give --embeddings DIR",
                             prompt.runs[i].text);
            sd_prompt_free(&prompt);
            return s;
        }
    /* The width is the first embedding's: no text encoder is loaded here. */
    for (size_t i = 0; dir && i < prompt.count && lib.width < 0; i++) {
        struct sd_embedding e;
        char path[1200];
        if (prompt.runs[i].kind != SD_PROMPT_EMBEDDING) continue;
        sd_embeddings_path(&lib, prompt.runs[i].text, path, sizeof path);
        if (*path && sd_embedding_load(path, &e, NULL) == LF_OK) lib.width = e.width;
        if (*path) sd_embedding_clear(&e);
    }
    s = sd_prompt_tokenize(tok, &prompt, dir ? &lib : NULL, &t, err);
    for (int k = 0; !s && k < t.chunks; k++) {
        int last = SD_CHUNK_TOKENS;
        const size_t base = (size_t)k * SD_TOKENIZER_CONTEXT;
        while (last > 0 && t.ids[base + last] == sd_tokenizer_eos(tok) && !t.names[base + last])
            last--;
        printf("# chunk %d: %d of %d tokens\n", k, last, SD_CHUNK_TOKENS);
        for (int p = 1, nth = 0; p <= last; p++) {
            size_t i = base + (size_t)p;
            if (t.names[i]) {
                nth = p > 1 && t.names[i - 1] == t.names[i] ? nth + 1 : 0;
                printf("%d %d - embedding:%s[%d] %g\n", k, p, t.names[i], nth, t.weights[i]);
            } else {
                printf("%d %d %d %s %g\n", k, p, t.ids[i], sd_tokenizer_token(tok, t.ids[i]),
                       t.weights[i]);
            }
        }
    }
    if (!s) sd_prompt_tokens_free(&t);
    sd_embeddings_clear(&lib);
    sd_prompt_free(&prompt);
    return s;
}

static void print_ids(const struct sd_tokenizer *tok, const int32_t *ids, size_t n, int tokens)
{
    for (size_t i = 0; i < n; i++) {
        if (tokens)
            printf("%d %s\n", ids[i], sd_tokenizer_token(tok, ids[i]));
        else
            printf("%s%d", i ? " " : "", ids[i]);
    }
    if (!tokens) printf("\n");
}

int lf_cli_tokenize(int argc, char **argv)
{
    const char *vocab = NULL, *checkpoint = NULL, *embeddings = NULL;
    int untruncated = 0, tokens = 0, weights = 0, first_text = 0;
    struct lf_error err = {0};
    struct sd_tokenizer *tok = NULL;
    char msg[LF_ERROR_MESSAGE_MAX + LF_ERROR_PATH_MAX + 32], *text = NULL;
    size_t text_len = 0;
    int status = 1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(argv[i], "--vocab") || !strcmp(argv[i], "--checkpoint")) &&
                   i + 1 < argc) {
            *(argv[i][2] == 'v' ? &vocab : &checkpoint) = argv[i + 1];
            i++;
        } else if (!strcmp(argv[i], "--untruncated")) {
            untruncated = 1;
        } else if (!strcmp(argv[i], "--tokens")) {
            tokens = 1;
        } else if (!strcmp(argv[i], "--weights")) {
            weights = 1;
        } else if (!strcmp(argv[i], "--embeddings") && i + 1 < argc) {
            embeddings = argv[++i];
        } else if (!strcmp(argv[i], "--")) {
            first_text = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "lcmflow tokenize: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            first_text = i;
            break;
        }
    }
    if (!first_text || first_text >= argc) {
        fprintf(stderr, "lcmflow tokenize: no text given\n");
        usage(stderr);
        return 2;
    }
    for (int i = first_text; i < argc; i++)
        text_len += strlen(argv[i]) + 1;
    text = malloc(text_len + 1);
    if (!text) {
        fprintf(stderr, "lcmflow tokenize: out of memory\n");
        return 1;
    }
    text[0] = '\0';
    for (int i = first_text; i < argc; i++) {
        if (i > first_text) strcat(text, " ");
        strcat(text, argv[i]);
    }

    if ((vocab ? sd_tokenizer_load(vocab, &tok, &err)
               : sd_tokenizer_find(checkpoint, NULL, &tok, &err)) != LF_OK)
        goto fail;
    if (weights) {
        if (print_weights(tok, text, embeddings, &err) != LF_OK) goto fail;
    } else if (untruncated) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (sd_tokenizer_encode_untruncated(tok, text, &ids, &n, &err) != LF_OK) goto fail;
        print_ids(tok, ids, n, tokens);
        free(ids);
    } else {
        int32_t ids[SD_TOKENIZER_CONTEXT];
        bool truncated = false;
        if (sd_tokenizer_encode(tok, text, ids, &truncated, &err) != LF_OK) goto fail;
        print_ids(tok, ids, SD_TOKENIZER_CONTEXT, tokens);
        if (truncated)
            fprintf(stderr,
                    "lcmflow tokenize: the prompt is longer than %d tokens; the rest "
                    "was dropped\n",
                    SD_TOKENIZER_CONTEXT - 2);
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "lcmflow tokenize: %s\n", lf_error_text(&err, msg, sizeof msg));
done:
    sd_tokenizer_free(tok);
    free(text);
    return status;
}
