// HandlerTest with an AdminHandler (and its audit log) over the same store
// and push handler, for tests that drive admin calls beside device pushes.
#ifndef CRMSYNC_TESTS_SERVER_ADMIN_FIXTURE_H_
#define CRMSYNC_TESTS_SERVER_ADMIN_FIXTURE_H_

#include <memory>

#include "admin/admin_handler.h"
#include "auth/audit_log.h"
#include "handler_fixture.h"

namespace crmsync::server::testing {

class AdminHandlerTest : public HandlerTest {
 protected:
  void SetUp() override {
    HandlerTest::SetUp();
    if (HasFatalFailure()) return;
    audit_ = std::make_unique<auth::AuditLog>(&store_->audit(), &clock_);
    admin_ = std::make_unique<AdminHandler>(store_.get(), &clock_, nullptr, audit_.get(),
                                            push_.get(), AdminHandler::Info{}, nullptr);
  }
  void TearDown() override {
    admin_.reset();
    audit_.reset();
    HandlerTest::TearDown();
  }

  std::unique_ptr<auth::AuditLog> audit_;
  std::unique_ptr<AdminHandler> admin_;
};

}  // namespace crmsync::server::testing

#endif  // CRMSYNC_TESTS_SERVER_ADMIN_FIXTURE_H_
