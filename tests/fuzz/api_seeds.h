// Seed inputs of the fuzz targets that drive the server and SDK APIs
// (fuzz_push_batch, fuzz_pull_apply, fuzz_token), written by make_corpus
// into <corpus>/push_batch, <corpus>/pull_apply and <corpus>/token. They
// name the records and users of tests/fuzz/server_world.cc and of the
// client store of fuzz_pull_apply.cc.
#ifndef CRMSYNC_TESTS_FUZZ_API_SEEDS_H_
#define CRMSYNC_TESTS_FUZZ_API_SEEDS_H_

#include <string>

namespace crmsync::fuzz {

void WriteApiSeeds(const std::string& corpus_dir);

}  // namespace crmsync::fuzz

#endif  // CRMSYNC_TESTS_FUZZ_API_SEEDS_H_
