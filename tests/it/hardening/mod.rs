//! Issue 32: what a hostile export, caller or connection could do, each
//! finding of the outside probe as a test against a running archived.
//!
//! | module | findings |
//! | --- | --- |
//! | `imports` | exports that name local paths, oversized imports, writes that answer failure yet commit, counters that overflow, echoed names, fixity's rate, upload ownership, file modes |
//! | `origin` | metric series from unknown paths, the media origin serving script, malformed messages, log levels and request ids |
//! | `connections` | stalled readers' memory, slowloris on both ports, the admin listener |

mod connections;
mod imports;
mod origin;
