#define _POSIX_C_SOURCE 200809L
#include "c_test_support.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int test_failures = 0;
static pid_t server_pid = -1;

int test_start_server(const char* syncd, const char* dir, int dev_identity, char* address,
                      size_t size) {
  char ready[512], store[512], log[512];
  snprintf(ready, sizeof ready, "%s/ready", dir);
  snprintf(store, sizeof store, "sqlite:%s/server.db", dir);
  snprintf(log, sizeof log, "%s/server.log", dir);
  unlink(ready);
  server_pid = fork();
  if (server_pid < 0) return 0;
  if (server_pid == 0) {
    if (freopen(log, "w", stdout) == NULL) _exit(126);
    dup2(1, 2);
    if (dev_identity) {
      execl(syncd, syncd, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
            "--ready-file", ready, "--dev-insecure", "--dev-identity", "--demo-tenant", "--store",
            store, (char*)NULL);
    } else {
      execl(syncd, syncd, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
            "--ready-file", ready, "--dev-insecure", "--demo-tenant", "--store", store,
            (char*)NULL);
    }
    _exit(127);
  }
  for (int i = 0; i < 3000; ++i) { /* up to 30 s */
    FILE* f = fopen(ready, "r");
    int port = 0;
    if (f != NULL) {
      int got = fscanf(f, "%d", &port);
      fclose(f);
      if (got == 1 && port > 0) {
        snprintf(address, size, "127.0.0.1:%d", port);
        return 1;
      }
    }
    if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
      server_pid = -1;
      return 0;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

void test_stop_server(void) {
  if (server_pid <= 0) return;
  kill(server_pid, SIGTERM);
  waitpid(server_pid, NULL, 0);
  server_pid = -1;
}

int test_make_dir(char* dir, size_t size) {
  const char* tmp = getenv("TMPDIR");
  snprintf(dir, size, "%s/crmsync-capi-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  return mkdtemp(dir) != NULL;
}

void test_remove_dir(const char* dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int test_count(const void* p, size_t n, const char* needle) {
  const char* s = (const char*)p;
  size_t m = strlen(needle);
  int count = 0;
  for (size_t i = 0; i + m <= n; ++i) {
    if (memcmp(s + i, needle, m) == 0) ++count;
  }
  return count;
}
