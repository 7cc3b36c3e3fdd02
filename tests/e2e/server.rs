//! hush-run end-to-end tests.
