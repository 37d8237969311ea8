//! Several servers behind one setting: `api-url` may list base URLs separated by commas
//! (`http://a:4200/api,http://b:4200/api`). Requests go to the one that answered last; when a
//! server cannot be reached (the connection fails), the next one in the list is tried — servers
//! sharing one PostgreSQL database serve the same API.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The API's base URLs, and which one answered last. Clones share that choice.
#[derive(Debug, Clone)]
pub struct ApiUrls {
    urls: Arc<[String]>,
    current: Arc<AtomicUsize>,
}

impl ApiUrls {
    /// Parses a comma-separated list (one URL is a list of one). Blank entries are skipped;
    /// trailing slashes are dropped.
    pub fn parse(list: &str) -> ApiUrls {
        let mut urls: Vec<String> = list
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            // Nothing usable: the request names the empty URL in its error.
            urls.push(String::new());
        }
        ApiUrls {
            urls: urls.into(),
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The URL in use (the one that answered last).
    pub fn current(&self) -> &str {
        &self.urls[self.current.load(Ordering::Relaxed) % self.urls.len()]
    }

    /// Every URL, the one in use first, then the others in list order after it: the order a
    /// request tries them in. Each comes with its position for [`answered`](Self::answered).
    pub fn in_order(&self) -> impl Iterator<Item = (usize, &str)> + '_ {
        let n = self.urls.len();
        let first = self.current.load(Ordering::Relaxed) % n;
        (0..n).map(move |k| {
            let i = (first + k) % n;
            (i, self.urls[i].as_str())
        })
    }

    /// Records that the URL at position `i` answered: later requests start there.
    pub fn answered(&self, i: usize) {
        self.current.store(i, Ordering::Relaxed);
    }

    /// Sends a request to the URL in use and, while a server cannot be reached (the connection
    /// fails), to the next ones — a request a server took is never sent again. `build(base, last)`
    /// makes the request for one base URL (`last`: none will be tried after it). Answers the base
    /// URL that took the request and its response, or the base URL of the last error and the error.
    pub(crate) async fn send(
        &self,
        mut build: impl FnMut(&str, bool) -> reqwest::RequestBuilder,
    ) -> Result<(&str, reqwest::Response), (&str, reqwest::Error)> {
        let n = self.urls.len();
        let mut failed = None;
        for (k, (i, base)) in self.in_order().enumerate() {
            match build(base, k + 1 == n).send().await {
                Ok(response) => {
                    self.answered(i);
                    return Ok((base, response));
                }
                Err(e) if e.is_connect() => failed = Some((base, e)),
                Err(e) => return Err((base, e)),
            }
        }
        Err(failed.expect("a list of URLs is never empty"))
    }

    /// The list as the `api-url` setting spells it (for a child process's `FLOWCORE_API_URL`).
    pub fn setting(&self) -> String {
        self.urls.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::ApiUrls;

    #[test]
    fn parsed_in_order_and_rotated_to_the_one_that_answered() {
        let urls = ApiUrls::parse(" http://a/api/ , ,http://b/api,http://c/api");
        assert_eq!(urls.setting(), "http://a/api,http://b/api,http://c/api");
        assert_eq!(urls.current(), "http://a/api");
        urls.answered(2);
        let order: Vec<&str> = urls.in_order().map(|(_, u)| u).collect();
        assert_eq!(order, ["http://c/api", "http://a/api", "http://b/api"]);
        assert_eq!(urls.clone().current(), "http://c/api");
    }
}
