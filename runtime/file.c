/*
** file.c - opening input files safely (see file.h).
*/
#include "lcmflow/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *lf_file_kind_name(unsigned mode)
{
    if (S_ISDIR(mode)) return "a folder";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return S_ISREG(mode) ? "a regular file" : "not a regular file";
}

static int refuse(const char *path, const char *what, unsigned mode, struct lf_error *err)
{
    lf_error_set_at(err, LF_ERR_IO, path, 0, 0, "cannot open %s: not a regular file but %s", what,
                    lf_file_kind_name(mode));
    return -1;
}

int lf_open_regular(const char *path, const char *what, struct lf_error *err)
{
    struct stat sb;
    /* stat first: a device is never opened (opening some has effects); then
    ** O_NONBLOCK and fstat, for a file replaced between the two. */
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) return refuse(path, what, sb.st_mode, err);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        lf_error_set_at(err, e == ENOENT ? LF_ERR_NOT_FOUND : LF_ERR_IO, path, 0, 0,
                        "cannot open %s: %s", what, strerror(e));
        return -1;
    }
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        lf_error_set_at(err, LF_ERR_IO, path, 0, 0, "cannot open %s: %s", what, strerror(e));
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return refuse(path, what, sb.st_mode, err);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}
