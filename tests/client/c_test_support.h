/* Helpers of the C programs that test the C API against a real crm-syncd,
 * started as a child process on loopback with the demo tenant. Also used
 * by the out-of-tree programs built against the installed SDK. */
#ifndef CRMSYNC_TESTS_CLIENT_C_TEST_SUPPORT_H_
#define CRMSYNC_TESTS_CLIENT_C_TEST_SUPPORT_H_

#include <stddef.h>
#include <stdio.h>

#include "crmsync/crmsync_client.h"

extern int test_failures;
#define CHECK(cond)                                                                            \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              crmsync_last_error());                                                           \
      ++test_failures;                                                                         \
    }                                                                                          \
  } while (0)

/* Starts `syncd` (a crm-syncd binary) on 127.0.0.1 with a fresh SQLite store
 * in `dir` and the demo tenant; dev_identity = 1 adds --dev-identity.
 * Fills `address` ("127.0.0.1:PORT"); returns 1 on success. */
int test_start_server(const char* syncd, const char* dir, int dev_identity, char* address,
                      size_t size);
/* Stops the server started above (SIGTERM, then waits). */
void test_stop_server(void);
/* Creates a temporary directory (fills `dir`, at least 64 bytes). */
int test_make_dir(char* dir, size_t size);
void test_remove_dir(const char* dir);
/* Occurrences of `needle` in the first n bytes of p. */
int test_count(const void* p, size_t n, const char* needle);

#endif /* CRMSYNC_TESTS_CLIENT_C_TEST_SUPPORT_H_ */
