//! Paged List and Search calls, read until enough items or the last page.

use std::future::Future;

/// Calls `fetch(page_token, page_size)` page after page (each at most
/// `max_page` items) until `limit` items are in or a page has no
/// `next_page_token`.
pub async fn collect<T, F, Fut>(limit: usize, max_page: usize, mut fetch: F) -> Result<Vec<T>, tonic::Status>
where
    F: FnMut(String, i32) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), tonic::Status>>,
{
    let mut items = Vec::new();
    let mut page_token = String::new();
    while items.len() < limit {
        let (page, next) = fetch(page_token, (limit - items.len()).min(max_page) as i32).await?;
        items.extend(page);
        if next.is_empty() {
            break;
        }
        page_token = next;
    }
    items.truncate(limit);
    Ok(items)
}
