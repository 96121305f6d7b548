//! See `super`.
