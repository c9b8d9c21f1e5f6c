//! testkit: being written
