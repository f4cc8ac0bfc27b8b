// Request and response of a unary callback RPC on one protobuf arena.
//
// A Push of 500 mutations or a Pull page of 500 records is tens of
// thousands of small objects (strings, map entries, sub-messages). On the
// heap each is one malloc to parse or build and one free when gRPC drops
// the messages; on an arena they are carved from a few large blocks and the
// whole call is freed at once when gRPC releases the holder. Registered per
// method with the generated SetMessageAllocatorFor_<Method>; the allocator
// must outlive the server. Handlers may use `response->GetArena()` to build
// more of the reply on the same arena.
//
// `kResponseOnArena` false keeps the response on the heap (the request
// still on the arena): for a handler that builds its reply's parts on the
// heap and moves them in, which on an arena would be a deep copy each.
#ifndef CRMSYNC_SERVER_RPC_ARENA_ALLOCATOR_H_
#define CRMSYNC_SERVER_RPC_ARENA_ALLOCATOR_H_

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

#include <cstddef>
#include <memory>

namespace crmsync::server {

template <typename Request, typename Response, bool kResponseOnArena = true>
class ArenaMessageAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options()) {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      if constexpr (kResponseOnArena) {
        this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
      } else {
        heap_response_ = std::make_unique<Response>();
        this->set_response(heap_response_.get());
      }
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options() {
      google::protobuf::ArenaOptions options;
      // Small calls (a Pull with nothing new) stay small; a page of records
      // grows the blocks geometrically up to the maximum.
      options.start_block_size = 4 * 1024;
      options.max_block_size = 1024 * 1024;
      return options;
    }

    google::protobuf::Arena arena_;
    std::unique_ptr<Response> heap_response_;
  };
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_RPC_ARENA_ALLOCATOR_H_
