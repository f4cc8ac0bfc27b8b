// Product and protocol versions.
#ifndef CRMSYNC_SERVER_VERSION_H_
#define CRMSYNC_SERVER_VERSION_H_

#include "crmsync/build_info.h"

#endif  // CRMSYNC_SERVER_VERSION_H_
