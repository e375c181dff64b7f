/*
** cli_tokenize.c - `lcmflow tokenize`: prints the CLIP token ids of a prompt,
** the ids the text encoder would see.
*/
#include "cli.h"
#include "sd_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lcmflow tokenize [--vocab PATH] [--checkpoint PATH] [--untruncated]\n"
            "                        [--tokens] TEXT...\n"
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
            "\n"
            "Without --vocab the vocabulary is looked for in the checkpoint's tokenizer/\n"
            "folder, then in $%s.\n",
            SD_TOKENIZER_CONTEXT, SD_TOKENIZER_CONTEXT - 2, SD_TOKENIZER_ENV);
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
    const char *vocab = NULL, *checkpoint = NULL;
    int untruncated = 0, tokens = 0, first_text = 0;
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
    if (untruncated) {
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
