// Fixture for the purity check's self-test: this file must be refused.
#include <chrono>

#include "grpcpp/grpcpp.h"

long Now() { return std::chrono::system_clock::now().time_since_epoch().count(); }
