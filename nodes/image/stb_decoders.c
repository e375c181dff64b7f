/*
** stb_decoders.c - stb_image's PNG, JPEG and BMP decoders, compiled into
** lcmflow from the system's header with stb's assertions off.  Debian's
** libstb.so keeps them, and stb_image 2.27 asserts on some corrupt JPEG
** Huffman data: a user's (or an uploaded) file would abort the process.
** This is the configuration the image fuzzer runs (tests/fuzz/README.md).
** stb_image_write still comes from libstb.
*/
#define STBI_ASSERT(x) ((void)0)
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
