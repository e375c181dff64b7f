/*
** farm_redis.c - the Redis side shared by worker and submit: the URL,
** connections that survive a Redis restart, key names, ids, hashes.
*/
#include "farm.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

/* Copies n bytes of text %-decoded into out; false when it does not fit. */
static bool decode(const char *text, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)text[i];
        if (c == '%' && i + 2 < n && hexval(text[i + 1]) >= 0 && hexval(text[i + 2]) >= 0) {
            c = hexval(text[i + 1]) * 16 + hexval(text[i + 2]);
            i += 2;
        }
        if (o + 1 >= size || c == 0) return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

enum lf_status farm_url_parse(const char *text, struct farm_url *out, struct lf_error *err)
{
    const char *p, *at, *slash, *colon;
    *out = (struct farm_url){.port = 6379};
    if (!text || !*text)
        return lf_error_set(err, LF_ERR_INVALID, "no Redis URL (--redis or %s)", FARM_URL_ENV);
    if (!strncmp(text, "rediss://", 9))
        return lf_error_set(err, LF_ERR_INVALID,
                            "the Redis URL: TLS (rediss://) needs hiredis >= 1.0; this build has "
                            "%d.%d (use a TLS tunnel such as stunnel)",
                            HIREDIS_MAJOR, HIREDIS_MINOR);
    if (strncmp(text, "redis://", 8))
        return lf_error_set(err, LF_ERR_INVALID,
                            "the Redis URL must be redis://[user[:password]@]host[:port][/db]");
    p = text + 8;
    slash = strchr(p, '/');
    at = memchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
    if (at) {
        colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (!decode(p, (size_t)(colon - p), out->user, sizeof out->user) ||
                !decode(colon + 1, (size_t)(at - colon - 1), out->pass, sizeof out->pass))
                return lf_error_set(err, LF_ERR_INVALID,
                                    "the Redis URL: user or password too long");
        } else if (!decode(p, (size_t)(at - p), out->pass, sizeof out->pass)) {
            return lf_error_set(err, LF_ERR_INVALID, "the Redis URL: password too long");
        }
        p = at + 1;
    }
    size_t hostlen = slash ? (size_t)(slash - p) : strlen(p);
    colon = memchr(p, ':', hostlen);
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != p + hostlen || port < 1 || port > 65535)
            return lf_error_set(err, LF_ERR_INVALID, "the Redis URL: bad port");
        out->port = (int)port;
        hostlen = (size_t)(colon - p);
    }
    if (hostlen == 0 || hostlen >= sizeof out->host)
        return lf_error_set(err, LF_ERR_INVALID, "the Redis URL: no host");
    memcpy(out->host, p, hostlen);
    out->host[hostlen] = '\0';
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 10000)
            return lf_error_set(err, LF_ERR_INVALID, "the Redis URL: bad database number");
        out->db = (int)db;
    }
    return LF_OK;
}

static struct timeval ms_tv(int ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

/* One attempt: connect, AUTH, SELECT.  NULL (and a reason) on failure. */
static redisContext *connect_once(struct farm_conn *fc, char *why, size_t size)
{
    const struct farm_url *u = &fc->url;
    redisContext *c = redisConnectWithTimeout(u->host, u->port, ms_tv(2000));
    redisReply *r = NULL;
    if (!c || c->err) {
        snprintf(why, size, "%s", c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, ms_tv(fc->timeout_ms ? fc->timeout_ms : 10000));
    if (u->pass[0])
        r = u->user[0] ? redisCommand(c, "AUTH %s %s", u->user, u->pass)
                       : redisCommand(c, "AUTH %s", u->pass);
    if (r && r->type != REDIS_REPLY_ERROR && u->db) {
        freeReplyObject(r);
        r = redisCommand(c, "SELECT %d", u->db);
    }
    if ((u->pass[0] || u->db) && (!r || r->type == REDIS_REPLY_ERROR)) {
        snprintf(why, size, "%s", r ? r->str : c->errstr);
        freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    return c;
}

bool farm_conn_open(struct farm_conn *fc)
{
    int wait_ms = 100;
    char why[256];
    while (!fc->c) {
        if (fc->stop && *fc->stop) return false;
        if ((fc->c = connect_once(fc, why, sizeof why)) != NULL) break;
        if (!fc->said_waiting) {
            /* The URL may hold a password: only host and port are shown. */
            fprintf(stderr, "%s: Redis at %s:%d: %s; retrying\n", fc->who, fc->url.host,
                    fc->url.port, why);
            fc->said_waiting = true;
        }
        struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        wait_ms = wait_ms * 2 > 5000 ? 5000 : wait_ms * 2;
    }
    if (fc->said_waiting) fprintf(stderr, "%s: connected to Redis\n", fc->who);
    fc->said_waiting = false;
    return true;
}

void farm_conn_close(struct farm_conn *fc)
{
    redisFree(fc->c);
    fc->c = NULL;
}

static redisReply *run(struct farm_conn *fc, bool retry, int argc, const char **argv,
                       const size_t *lens, const char *fmt, va_list *ap)
{
    for (;;) {
        redisReply *r = NULL;
        if (!fc->c && (!retry || !farm_conn_open(fc))) return NULL;
        if (fmt) {
            va_list copy;
            va_copy(copy, *ap);
            r = redisvCommand(fc->c, fmt, copy);
            va_end(copy);
        } else {
            r = redisCommandArgv(fc->c, argc, argv, lens);
        }
        if (r) return r;
        /* A hiredis context is unusable after an I/O error: start over. */
        farm_conn_close(fc);
        if (!retry) return NULL;
    }
}

redisReply *farm_command(struct farm_conn *fc, bool retry, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = run(fc, retry, 0, NULL, NULL, fmt, &ap);
    va_end(ap);
    return r;
}

redisReply *farm_command_argv(struct farm_conn *fc, bool retry, int argc, const char **argv,
                              const size_t *lens)
{
    return run(fc, retry, argc, argv, lens, NULL, NULL);
}

void farm_key(char *out, size_t size, const char *stream, const char *kind, const char *id)
{
    if (id)
        snprintf(out, size, "%s:%s:%s", stream, kind, id);
    else
        snprintf(out, size, "%s:%s", stream, kind);
}

bool farm_id_ok(const char *id)
{
    size_t n = 0;
    for (; id && id[n]; n++)
        if (!isxdigit((unsigned char)id[n]) || isupper((unsigned char)id[n])) return false;
    return n == FARM_JOB_ID_LEN;
}

bool farm_id_new(char out[FARM_JOB_ID_LEN + 1])
{
    unsigned char b[FARM_JOB_ID_LEN / 2];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && read(fd, b, sizeof b) == (ssize_t)sizeof b;
    if (fd >= 0) close(fd);
    for (size_t i = 0; ok && i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return ok;
}

void farm_sha256_hex(const void *data, size_t size, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    out[0] = '\0';
    if (!EVP_Digest(data, size, md, &len, EVP_sha256(), NULL)) return;
    for (unsigned i = 0; i < len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

long long farm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned char *read_fd(int fd, size_t max, size_t *size)
{
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    unsigned char *data = NULL;
    struct stat st;
    *size = 0;
    if (!f && fd >= 0) close(fd);
    if (f && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= max &&
        (data = malloc((size_t)st.st_size + 1)) != NULL) {
        if (fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            free(data);
            data = NULL;
        } else {
            data[st.st_size] = 0;
            *size = (size_t)st.st_size;
        }
    }
    if (f) fclose(f);
    return data;
}

unsigned char *farm_read_file(const char *path, size_t max, size_t *size)
{
    return read_fd(open(path, O_RDONLY | O_CLOEXEC), max, size);
}

unsigned char *farm_read_file_nofollow(const char *path, size_t max, size_t *size)
{
    return read_fd(open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), max, size);
}

bool farm_write_file(const char *path, const void *data, size_t size)
{
    char tmp[4200];
    FILE *f;
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    if (!(f = fopen(tmp, "wb"))) return false;
    bool ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) unlink(tmp);
    return ok;
}
