/*
** test_farm_url.c - the farm's Redis URL, ids and hashes
** (runtime/farm/farm_redis.c): user, %-encoded password, port, database;
** bad URLs and TLS refused with a message; job ids as submit makes them;
** SHA-256 against a known digest.
*/
#include "farm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

static void url_full(void **state)
{
    struct farm_url u;
    struct lf_error err = {0};
    (void)state;
    assert_int_equal(farm_url_parse("redis://farm:p%40ss%3Aw@10.0.0.5:6380/3", &u, &err), LF_OK);
    assert_string_equal(u.user, "farm");
    assert_string_equal(u.pass, "p@ss:w");
    assert_string_equal(u.host, "10.0.0.5");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 3);
}

static void url_defaults(void **state)
{
    struct farm_url u;
    struct lf_error err = {0};
    (void)state;
    assert_int_equal(farm_url_parse("redis://localhost", &u, &err), LF_OK);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.pass, "");
    /* A password alone (requirepass), an empty user before the colon. */
    assert_int_equal(farm_url_parse("redis://:secret@127.0.0.1:7000", &u, &err), LF_OK);
    assert_string_equal(u.user, "");
    assert_string_equal(u.pass, "secret");
    assert_int_equal(u.port, 7000);
}

static void url_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "http://host",
        "redis://",
        "redis://host:0",
        "redis://host:99999",
        "redis://host:12x",
        "redis://host/x",
        "redis://:@:1",
    };
    struct farm_url u;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct lf_error err = {0};
        assert_int_equal(farm_url_parse(bad[i], &u, &err), LF_ERR_INVALID);
    }
    struct lf_error err = {0};
    char text[512];
    assert_int_equal(farm_url_parse("rediss://host", &u, &err), LF_ERR_INVALID);
    assert_non_null(strstr(lf_error_text(&err, text, sizeof text), "TLS"));
    assert_int_equal(farm_url_parse(NULL, &u, &err), LF_ERR_INVALID);
    assert_non_null(strstr(lf_error_text(&err, text, sizeof text), FARM_URL_ENV));
}

static void ids(void **state)
{
    char id[FARM_JOB_ID_LEN + 1], other[FARM_JOB_ID_LEN + 1];
    (void)state;
    assert_true(farm_id_new(id));
    assert_true(farm_id_new(other));
    assert_true(farm_id_ok(id));
    assert_string_not_equal(id, other);
    assert_true(farm_id_ok("0123456789abcdef0123456789abcdef"));
    assert_false(farm_id_ok("0123456789ABCDEF0123456789abcdef"));
    assert_false(farm_id_ok("0123456789abcdef0123456789abcde"));
    assert_false(farm_id_ok("../../etc/passwd0123456789abcdef"));
    assert_false(farm_id_ok(""));
    assert_false(farm_id_ok(NULL));
}

static void sha256(void **state)
{
    char hex[65];
    (void)state;
    farm_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_full), cmocka_unit_test(url_defaults), cmocka_unit_test(url_bad),
        cmocka_unit_test(ids),      cmocka_unit_test(sha256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
