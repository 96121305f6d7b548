//! What tests read from the API's answers and build of its requests, once.

/// The ErrorInfo reason of a status, empty when it carries none.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status.get_details_error_info().map(|info| info.reason).unwrap_or_default()
}
