/*
** file.h - opening input files safely.
**
** Model, image and vocabulary paths come from users: a FIFO or a device
** file given by mistake would block open() or read() forever.  Only regular
** files are opened.
*/
#ifndef LCMFLOW_FILE_H
#define LCMFLOW_FILE_H

#include "lcmflow/error.h"

/* Opens path read-only (close-on-exec) when it is a regular file and
** returns the descriptor (caller closes).  Otherwise returns -1 and sets
** err naming the path: LF_ERR_NOT_FOUND when it does not exist, LF_ERR_IO
** when it is a folder, a FIFO, a device or socket ("not a regular file:
** a FIFO"), or cannot be opened.  what ("model", "image", ...) starts the
** message.  Nothing is read, and a FIFO with no writer never blocks. */
int lf_open_regular(const char *path, const char *what, struct lf_error *err);

/* The kind of a non-regular file for messages ("a folder", "a FIFO", ...). */
const char *lf_file_kind_name(unsigned mode);

#endif
