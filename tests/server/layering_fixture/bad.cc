// A file breaking every layering rule, for the check's self-test.
#include <grpcpp/grpcpp.h>

#include "auth/auth_handler.h"
#include "crmsync/v1/sync.grpc.pb.h"
