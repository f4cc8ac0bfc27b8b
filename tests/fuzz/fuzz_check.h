// FUZZ_CHECK(condition, message): a violated invariant of a fuzz target
// prints the message and traps, which libFuzzer reports as a crash and saves
// the input. The message is only built when the check fails.
#ifndef CRMSYNC_TESTS_FUZZ_FUZZ_CHECK_H_
#define CRMSYNC_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <string>

namespace crmsync::fuzz {

[[noreturn]] inline void FuzzFail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "fuzz invariant violated (%s:%d): %s\n", file, line, what.c_str());
  __builtin_trap();
}

}  // namespace crmsync::fuzz

#define FUZZ_CHECK(cond, what)                                          \
  do {                                                                  \
    if (!(cond)) ::crmsync::fuzz::FuzzFail(__FILE__, __LINE__, (what)); \
  } while (0)

#endif  // CRMSYNC_TESTS_FUZZ_FUZZ_CHECK_H_
