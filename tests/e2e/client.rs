//! hush end-to-end tests.
