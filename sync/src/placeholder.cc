// replaced by the sync core
