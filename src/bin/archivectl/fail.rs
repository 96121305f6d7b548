//! Exit codes scripts can rely on, and what a failure tells the person (or
//! script) that ran the command. What each code means is [`MEANINGS`];
//! docs/cli.md's table is that one (a test holds it so).

use serde::Serialize;

pub const OTHER: u8 = 1;
pub const USAGE: u8 = 2;
pub const NOT_FOUND: u8 = 3;
pub const PERMISSION: u8 = 4;
pub const CONFLICT: u8 = 5;
pub const UNAVAILABLE: u8 = 6;
pub const DAMAGED: u8 = 7;

/// Each exit code and what it means, as docs/cli.md's "Exit codes" table
/// says it word for word.
#[cfg(test)]
const MEANINGS: [(u8, &str); 8] = [
    (0, "done"),
    (OTHER, "anything else: a local file, a bad config, a server fault"),
    (USAGE, "usage: a flag or an argument is wrong"),
    (NOT_FOUND, "not found"),
    (PERMISSION, "token missing or unknown, or lacking the scope"),
    (CONFLICT, "conflict: the resource changed or is in another state"),
    (UNAVAILABLE, "unavailable, busy, or over a server limit: retry later"),
    (DAMAGED, "`fixity` found damaged or missing objects (each printed; docs/operations.md)"),
];

/// A usage error found after parsing (clap exits 2 on its own ones).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// Failures already reported item by item (`import` of many files): only
/// a summary and the first failure's exit code remain.
#[derive(Debug, thiserror::Error)]
#[error("{summary}")]
pub struct Reported {
    pub exit: u8,
    pub summary: String,
}

/// A failure, explained.
#[derive(Debug, Serialize)]
pub struct Explained {
    /// The gRPC code's name (`NOT_FOUND`); `USAGE`; `PARTIAL` (some items
    /// failed, each reported); or `LOCAL`, a failure beside any call (a
    /// file that cannot be read, a bad config).
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub hint: &'static str,
    /// The process's exit code.
    pub exit: u8,
}

/// The exit code of a failure and what to do about it. The message is the
/// error's chain of context down to the server's own message.
pub fn explain(error: &anyhow::Error) -> Explained {
    use tonic::Code;
    if let Some(usage) = error.downcast_ref::<Usage>() {
        return Explained { code: "USAGE".into(), message: usage.0.clone(), hint: "", exit: USAGE };
    }
    if let Some(reported) = error.downcast_ref::<Reported>() {
        return Explained { code: "PARTIAL".into(), message: reported.summary.clone(), hint: "", exit: reported.exit };
    }
    if error.chain().any(|cause| cause.is::<tonic::transport::Error>()) {
        let hint = "is archived running there? (--server, ARCHIVE_SERVER, or the config file's server)";
        return Explained { code: "UNAVAILABLE".into(), message: format!("{error:#}"), hint, exit: UNAVAILABLE };
    }
    let Some(at) = error.chain().position(|cause| cause.is::<tonic::Status>()) else {
        return Explained { code: "LOCAL".into(), message: format!("{error:#}"), hint: "", exit: OTHER };
    };
    let status = error.chain().nth(at).and_then(|cause| cause.downcast_ref::<tonic::Status>()).expect("found above");
    let (exit, hint) = match status.code() {
        Code::NotFound => (NOT_FOUND, "check the name (archivectl ls, archivectl media)"),
        Code::Unauthenticated => {
            (PERMISSION, "pass a token the server knows: --token, ARCHIVE_TOKEN or the config file")
        }
        Code::PermissionDenied => (PERMISSION, "use a token with the scope the message names"),
        Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => {
            (CONFLICT, "the resource changed or is in another state: read it again, then retry")
        }
        Code::Unavailable | Code::DeadlineExceeded => (UNAVAILABLE, "the server is unreachable or busy: retry later"),
        Code::ResourceExhausted => (UNAVAILABLE, "over a server limit (the message names it)"),
        _ => (OTHER, ""),
    };
    let mut message: Vec<String> = error.chain().take(at).map(ToString::to_string).collect();
    message.push(status.message().to_owned());
    Explained { code: code_name(status.code()), message: message.join(": "), hint, exit }
}

/// gRPC's name of a code, as its status-code guide writes it
/// (`NOT_FOUND`): tonic's variant name (`NotFound`) in shouting snake case.
fn code_name(code: tonic::Code) -> String {
    heck::AsShoutySnakeCase(format!("{code:?}")).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_server_message_keeps_its_context_and_code() {
        let error =
            Err::<(), _>(tonic::Status::not_found("articles/x does not exist")).context("importing a.txt").unwrap_err();
        let explained = explain(&error);
        assert_eq!((explained.code.as_str(), explained.exit), ("NOT_FOUND", NOT_FOUND));
        assert_eq!(explained.message, "importing a.txt: articles/x does not exist");
        let local = explain(&anyhow::anyhow!("reading b.txt"));
        assert_eq!((local.code.as_str(), local.exit), ("LOCAL", OTHER));
        assert_eq!(explain(&Usage("--id takes one file".into()).into()).exit, USAGE);
        assert_eq!(code_name(tonic::Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
    }

    /// docs/cli.md's table of exit codes is [`MEANINGS`], row for row.
    #[test]
    fn the_docs_table_is_the_exit_codes() {
        let docs = include_str!("../../../docs/cli.md");
        let (_, section) = docs.split_once("## Exit codes\n\n").expect("docs/cli.md has a section Exit codes");
        let table: Vec<&str> = section.lines().take_while(|line| line.starts_with('|')).collect();
        let mut expected = vec!["| exit | meaning |".to_owned(), "| --- | --- |".to_owned()];
        expected.extend(MEANINGS.iter().map(|(exit, meaning)| format!("| {exit} | {meaning} |")));
        assert_eq!(table, expected);
        let exits: Vec<u8> = MEANINGS.iter().map(|(exit, _)| *exit).collect();
        assert_eq!(exits, (0..MEANINGS.len() as u8).collect::<Vec<_>>(), "every code once, in order");
    }
}
